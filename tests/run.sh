#!/usr/bin/env bash
# The one test command: installs what the tests need, then lint, unit, page and browser tests.
# Usage: tests/run.sh [pytest arguments]   (with arguments, one pytest run of them: e.g. -m "not browser",
#                                            --engine postgresql)
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's chromium for the browser tests, and postgresql for the store tests (tests/pg.py starts a
# throwaway cluster of its own; the package's system service is not used).
if [ ! -x /usr/bin/chromium ] || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then  # installing postgresql starts no server (Debian's policy-rc.d rule)
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    added_policy=1
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT  # removed however the install ends
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-dejavu-core postgresql >/dev/null
  if [ -n "$added_policy" ]; then
    $sudo rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
fi

python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
.venv/bin/ruff check .
.venv/bin/ruff format --check .
if [ "$#" -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
# The unit and page tests on each engine (two workers each), then the browser tests, one at a time
# (they include the two app instances on one PostgreSQL).
.venv/bin/python -m pytest -m "not browser" -n 2
.venv/bin/python -m pytest -m "not browser" -n 2 --engine postgresql
.venv/bin/python -m pytest -m browser
