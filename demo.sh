#!/usr/bin/env bash
# Runs the demo on SQLite at http://127.0.0.1:5000 after doing its own set-up:
# a virtual environment, the package, the database migration and the demo data.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/portal demo "$@"
