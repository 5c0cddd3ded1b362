#!/usr/bin/env bash
# The production set-up rehearsed on this host, in one command, as root:
#
#   deploy/rehearse.sh [--duration 120] [--patients 40] [--keep]
#
# nginx in front of two app hosts (each its own network namespace, with gunicorn and a
# worker), a PostgreSQL cluster of its own, the fake push service; 40 patients while
# host A is killed and started again and host B loses its database. About 4 minutes.
# What it does and checks: the top of deploy/rehearse.py. Not part of ./test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "rehearse.sh: run as root (it makes network namespaces)" >&2
  exit 2
fi
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    -o Dpkg::Options::=--force-confold "${need[@]}" >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
export PATH="$PATH:/usr/sbin"
exec .venv/bin/python deploy/rehearse.py "$@"
