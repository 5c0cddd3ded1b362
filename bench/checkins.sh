#!/usr/bin/env bash
# The check-in benchmark (issue 4) in one command: bash bench/checkins.sh [options of
# bench/checkins.py]. Set-up first, as bench/run.sh does: the virtual environment, the
# package, and PostgreSQL 15 at 127.0.0.1:5432. bench/checkins.py creates and seeds its
# own databases (portal_checkins_100 and portal_checkins_50000).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
mkdir -p bench/results
if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e . \
  >bench/results/pip-checkins.log 2>&1; then
  cat bench/results/pip-checkins.log >&2
  exit 1
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
exec .venv/bin/python bench/checkins.py "$@"
