#!/usr/bin/env bash
# Runs the whole test suite after doing its own set-up on a fresh machine:
# a virtual environment, the package with its test extras, and Debian's Chromium for the
# browser tests. Extra arguments go to pytest. PORTAL_TEST_DATABASE_URL picks PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: browser tests will be skipped (apt-get install chromium)" >&2
  fi
fi
exec .venv/bin/pytest "$@"
