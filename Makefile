# Two commands for a fresh machine: `make run` and `make test`. Everything else is a step they call.
SHELL := /bin/bash
PY := .venv/bin/python
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1
export RASA_TELEMETRY_ENABLED := false

.PHONY: install run test test-unit test-integration test-deps train kb bench-kb clean help

help:
	@echo "make run    install what is missing, train/index when content changed, start the bot on loopback"
	@echo "make test   install what is missing, then run every test (unit, integration, browser)"
	@echo "make kb | train | bench-kb | test-unit | clean"

install:
	@scripts/install.sh

run: install
	$(PY) -m bot.launcher run

test-deps:
	@scripts/install-test-deps.sh

test: install test-deps
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest -m "not integration and not browser"

test-integration: install test-deps
	$(PY) -m pytest -m "integration or browser"

train: install
	$(PY) -m bot.launcher train

kb: install
	$(PY) -m kb_index build

bench-kb: install
	$(PY) -m benchmarks.bench_kb

clean:
	rm -rf var models kb_index/build .pytest_cache
