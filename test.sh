#!/usr/bin/env bash
# Runs the whole test suite after doing its own set-up on a fresh machine:
# a virtual environment, the package with its test extras, Debian's Chromium for the
# browser tests (with Java and the Nu HTML Checker), and nginx for the check of
# deploy/'s site. Extra arguments go to pytest. PORTAL_TEST_DATABASE_URL picks PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
# Debian's chromium for the browser tests; nginx (never started: `nginx -t` checks
# deploy/nginx/portal.conf) and systemd (systemd-analyze checks deploy/systemd/).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's ${missing[*]} for the tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
  else
    echo "missing ${missing[*]}: their tests will be skipped" >&2
  fi
fi
# The Nu HTML Checker (vnu-jar from the npm registry, run by Java) checks the HTML of
# every page the browser tests reach.
VNU_JAR=.cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar
if [ ! -f "$VNU_JAR" ] && command -v npm >/dev/null 2>&1; then
  npm install --prefix .cache/vnu --no-save --no-audit --no-fund --loglevel=error \
    vnu-jar@26.9.27 >/dev/null
fi
export PATH="$PATH:/usr/sbin"
exec .venv/bin/pytest "$@"
