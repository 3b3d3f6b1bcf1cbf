#!/usr/bin/env bash
# Print the path of a Python interpreter of the given minor version (e.g. 3.10), or explain how to get one.
set -euo pipefail
want="$1"
var="PYTHON${want/./}"            # PYTHON310 / PYTHON311 override the search
if [ -n "${!var:-}" ]; then echo "${!var}"; exit 0; fi
candidates=("python$want")
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}(\.[0-9]+)?$" | sort -V -r); do
    candidates+=("$(pyenv root)/versions/$v/bin/python$want")
  done
fi
candidates+=("$HOME/.pyenv/versions/$want/bin/python$want" "/usr/local/bin/python$want" "/usr/bin/python$want")
for c in "${candidates[@]}"; do
  path=$(command -v "$c" 2>/dev/null || true)
  if [ -n "$path" ] && "$path" -c "import sys, venv; assert sys.version_info[:2] == tuple(map(int, '$want'.split('.')))" 2>/dev/null; then
    echo "$path"; exit 0
  fi
done
cat >&2 <<MSG
error: Python $want was not found.
  This project needs Python $want ($( [ "$want" = 3.10 ] && echo "Rasa Open Source 3.6.21 supports Python 3.8-3.10 only" || echo "the hub, actions and knowledge base run on it")).
  Install it, for example with 'pyenv install $want' (or your OS package manager),
  or point ${var}=/path/to/python$want at one, then run the command again.
MSG
exit 1
