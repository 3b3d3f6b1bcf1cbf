#!/usr/bin/env bash
# System packages the test suite drives for real: Chromium (browser tests, with a CJK font so Chinese renders in
# the studio's screenshots), systemd-analyze (deploy/ units),
# and the engines of the scaled-out stack: PostgreSQL (store tests), Redis and nginx. scripts/install-scale-deps.sh
# installs all of them from Debian when missing (needs root or sudo the first time).
set -euo pipefail
extra=()
command -v chromium >/dev/null 2>&1 || extra+=(chromium)
command -v systemd-analyze >/dev/null 2>&1 || extra+=(systemd)  # `systemd-analyze verify` of deploy/systemd/
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || extra+=(fonts-noto-cjk)
exec "$(dirname "$0")/install-scale-deps.sh" "${extra[@]}"
