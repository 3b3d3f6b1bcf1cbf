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

.PHONY: bench-hub-memory bench-hub-path bench-encoders bench-kb-leave-out bench-publish bench-faults bench-notifications bench-reports bench-load run-scale install run test test-unit test-integration test-deps train kb bench-kb bench-kb-embedding bench-kb-scale encoder bench-nlu calibrate calibrate-kb bench-multilingual languages test-nlu clean help

help:
	@echo "make run    install what is missing, train/index when content changed, start the bot on loopback"
	@echo "make test   install what is missing, then run every test (unit, integration, browser)"
	@echo "make run-scale [HUBS=2 RASA=2]   the same behind nginx: N hub workers, M Rasa replicas, PostgreSQL, Redis"
	@echo "make kb | train | bench-kb | bench-reports | test-unit | clean"
	@echo "make encoder | bench-nlu | calibrate | test-nlu   (NLU: ONNX encoder, benchmarks, fallback threshold, data report)"

install:
	@scripts/install.sh

# The ONNX export of the NLU sentence encoder (a build artefact under models/encoder/; skipped when up to date),
# the accurate profile's mpnet (opt-in, tested in both runtimes), E5's language means (models/encoder/language-means/:
# a knowledge base with E5 loads without encoding the sample, encoders.language_means), and the language detector's
# parsed models (models/langid/: seconds to load instead of 20 s of parsing).
# Its stdout lists the exported folders, for scripts; progress and errors go to stderr.
encoder: install
	@$(PY) -m nlu_components.export_onnx --config config.yml --quiet >/dev/null
	@$(PY) -m nlu_components.export_onnx --model all-mpnet-base-v2+multilingual-e5-small --quiet >/dev/null
	@$(PY) -m encoders.language_means
	@$(PY) -m bot.conversations.language >/dev/null

run: install encoder
	@$(PY) -m tools.launcher run --dev

test-deps:
	@scripts/install-test-deps.sh

# Scaled out on loopback: nginx on HUB_PORT in front of HUBS hub workers, RASA Rasa replicas with their action
# servers, PostgreSQL and Redis (private instances under var/scale/); the same URLs as `make run`.
HUBS ?= 2
RASA ?= 2
SCALE_ARGS ?=
run-scale: install encoder
	@scripts/install-scale-deps.sh
	@$(PY) -m tools.scale run --dev --hubs $(HUBS) --rasa $(RASA) $(SCALE_ARGS)

test: install test-deps encoder kb
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

# Reports and console search at 1M messages / 100k conversations, on SQLite and a private PostgreSQL:
# benchmarks/results/reports.{json,md}. About 10-20 minutes (most of it building the data).
bench-reports: install
	$(PY) -m benchmarks.bench_reports --save

# The hub's own cost per bot-answered message (Rasa stubbed), side by side with the commit the redesign
# started from: benchmarks/results/hub-path.{json,md}. About 3 minutes.
bench-hub-path: install
	$(PY) -m benchmarks.bench_hub_path --save

# Hub memory per encoder profile (issue 17: <= 1 GiB): a started hub whose knowledge base answers 32 questions.
# benchmarks/results/hub-memory.{json,md}. About three minutes.
bench-hub-memory: install encoder
	$(PY) -m benchmarks.bench_hub_memory --save

# A bulk notification: the API's latency and the hub's sending throughput (SMS to a local fake Twilio).
# benchmarks/results/notifications.{json,md}. About a minute.
bench-notifications: install
	$(PY) -m benchmarks.bench_notifications --save

# Faults under load (kill -9 of Rasa, the action server and the hub; 100 duplicate first webhooks per channel):
# benchmarks/results/faults.{json,md}. About 6 minutes; needs a trained model (make train).
# Studio publishing: FAQ-only and full publishes timed, customers writing meanwhile (about 5 minutes).
# Results: benchmarks/results/publish.{json,md}.
bench-publish: install encoder
	$(PY) -m benchmarks.bench_publish --save

bench-faults: install encoder
	$(PY) -m tools.launcher train
	$(PY) -m benchmarks.bench_faults --save

# Load, faults and soak on the scaled-out stack (PostgreSQL, Redis, nginx): plain Rasa vs the hub at 1/8/32
# conversations, 1x1 vs 2x2, kill -9 / restarts under load, a soak at 70 % of capacity (SOAK_MIN minutes):
# benchmarks/results/load.{json,md}. About 50 minutes with the default 30-minute soak.
SOAK_MIN ?= 30
BENCH_LOAD_ARGS ?=
bench-load: install encoder
	@scripts/install-scale-deps.sh
	$(PY) -m tools.launcher train
	$(PY) -m benchmarks.bench_load --save --soak-min $(SOAK_MIN) $(BENCH_LOAD_ARGS)
