# Two commands for a fresh machine: `make run` and `make test`. Everything else is a step they call.
SHELL := /bin/bash
PY := .venv/bin/python
PY_RASA := .venv-rasa/bin/python
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1
export RASA_TELEMETRY_ENABLED := false

.PHONY: bench-encoders bench-kb-leave-out bench-hub-path bench-faults install run test test-unit test-integration test-deps train kb bench-kb bench-kb-embedding bench-kb-scale encoder bench-nlu calibrate calibrate-kb bench-multilingual languages test-nlu clean help

help:
	@echo "make run    install what is missing, train/index when content changed, start the bot on loopback"
	@echo "make test   install what is missing, then run every test (unit, integration, browser)"
	@echo "make kb | train | bench-kb | test-unit | clean"
	@echo "make encoder | bench-nlu | calibrate | test-nlu   (NLU: ONNX encoder, benchmarks, fallback threshold, data report)"

install:
	@scripts/install.sh

# The ONNX export of the NLU sentence encoder (a build artefact under models/encoder/; skipped when up to date).
# Its stdout lists the exported folders, for scripts; progress and errors go to stderr.
encoder: install
	@$(PY) -m nlu_components.export_onnx --config config.yml --quiet >/dev/null

run: install encoder
	@$(PY) -m tools.launcher run --dev

test-deps:
	@scripts/install-test-deps.sh

test: install test-deps encoder
	@$(PY) -m pytest

test-unit: install encoder
	@$(PY) -m pytest -m "not integration and not browser"

test-integration: install test-deps encoder
	@$(PY) -m pytest -m "integration or browser"

train: install encoder
	@$(PY) -m tools.launcher train

kb: install encoder
	@$(PY) -m tools.launcher kb

bench-kb: install encoder
	$(PY) -m benchmarks.bench_kb --save

# Every encoder and pair on the same cached embeddings, weighed per language (issue 17): results/encoders-*.
bench-encoders: install encoder
	$(PY) -m benchmarks.bench_encoders --save

# The leave-entries-out test of the knowledge base's content-calibrated thresholds on StackFAQ (questions only).
bench-kb-leave-out: install encoder
	$(PY) -m benchmarks.bench_kb --leave-out --no-answers --save

bench-kb-embedding: install encoder
	$(PY) -m benchmarks.bench_kb --embedding --save

# Slow (builds HNSW/IVF indexes over up to 1M synthetic vectors; about 15-30 min on 2 shared cores).
bench-kb-scale: install
	$(PY) -m benchmarks.bench_kb --scale --save

# NLU benchmarks (long: about 10 minutes each; not part of `make test`). Results: benchmarks/results/.
BENCH_NLU_ARGS ?=
bench-nlu: install encoder
	$(PY) -m benchmarks.bench_nlu --dataset banking77 $(BENCH_NLU_ARGS)
	$(PY) -m benchmarks.bench_nlu --dataset clinc150 $(BENCH_NLU_ARGS)

# Pick the FallbackClassifier threshold for a stated handoff target and write it into config.yml.
MAX_HANDOFF_RATE ?= 0.05
calibrate: install encoder
	$(PY_RASA) -m nlu_components.calibrate --max-handoff-rate $(MAX_HANDOFF_RATE)

# Knowledge-base answer / choices thresholds from the labelled queries in kb_index/eval/, written to .env.
calibrate-kb: install encoder kb
	$(PY) -m kb_index calibrate

# Which intents, responses and knowledge-base entries lack which language (for content editors).
languages: install
	@$(PY) -m tools.language_report

bench-multilingual: install encoder
	$(PY) -m benchmarks.bench_multilingual --save

# Cross-validation + held-out report on the project's own NLU data: accuracy, confused intents, examples.
test-nlu: install encoder
	$(PY_RASA) -m nlu_components.evaluate --heldout benchmarks/data/starter_heldout --json var/nlu-report.json

clean:
	rm -rf var models kb_index/build .pytest_cache

# The hub's own cost per bot-answered message (Rasa stubbed), side by side with the commit the redesign
# started from: benchmarks/results/hub-path.{json,md}. About 3 minutes.
bench-hub-path: install
	$(PY) -m benchmarks.bench_hub_path --save

# Faults under load (kill -9 of Rasa, the action server and the hub; 100 duplicate first webhooks per channel):
# benchmarks/results/faults.{json,md}. About 6 minutes; needs a trained model (make train).
bench-faults: install encoder
	$(PY) -m tools.launcher train
	$(PY) -m benchmarks.bench_faults --save
