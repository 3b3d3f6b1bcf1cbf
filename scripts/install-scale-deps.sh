#!/usr/bin/env bash
# The engines `make run-scale` starts as private loopback instances: PostgreSQL, Redis and nginx, installed from
# Debian when missing (needs root or sudo the first time). Quiet when everything is there.
# Arguments: more Debian packages to install in the same go (scripts/install-test-deps.sh: chromium).
set -euo pipefail
need=("$@")
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "[install] installing from Debian: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian packages may start system-wide services; the launcher and the tests start private instances instead.
if command -v service >/dev/null; then
  for svc in redis-server nginx postgresql; do $sudo service "$svc" stop >/dev/null 2>&1 || true; done
fi
