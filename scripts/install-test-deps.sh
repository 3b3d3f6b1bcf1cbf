#!/usr/bin/env bash
# System packages the test suite drives for real: Chromium (browser tests, with a CJK font so Chinese renders in
# the studio's screenshots), PostgreSQL (store tests) and Redis.
# Installed from Debian when missing; needs root (or sudo) the first time.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need+=(fonts-noto-cjk)
[ ${#need[@]} -eq 0 ] && exit 0  # all present: nothing to say
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "[install] installing from Debian: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian packages start services of their own; the tests start private instances instead.
(command -v service >/dev/null && $sudo service redis-server stop >/dev/null 2>&1) || true
