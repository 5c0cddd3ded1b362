#!/usr/bin/env bash
# The patient-home benchmark in one command: bash bench/run.sh [options of bench/home.py]
# Set-up first: the virtual environment, the package, brotli (for the size figure),
# Debian's wrk (load generator; a Python client is used when it cannot be installed),
# and PostgreSQL 15 at 127.0.0.1:5432. bench/home.py creates and seeds its databases.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
mkdir -p bench/results
if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e . \
  >bench/results/pip.log 2>&1; then
  cat bench/results/pip.log >&2
  exit 1
fi
.venv/bin/python -m pip install -q --disable-pip-version-check brotli >/dev/null 2>&1 \
  || echo "brotli could not be installed: only the gzip size is measured" >&2
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk \
      >/dev/null) || echo "wrk could not be installed: using the Python client" >&2
  else
    echo "wrk is missing: using the Python client (apt-get install wrk)" >&2
  fi
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
exec .venv/bin/python bench/home.py "$@"
