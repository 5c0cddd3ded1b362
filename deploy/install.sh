#!/usr/bin/env bash
# Installs the portal on a Debian 12 host, as root, from this repository.
#
#   deploy/install.sh app   --database-url postgresql://portal:PW@db:5432/portal \
#                           --bind 10.0.0.11:8000 --proxy 10.0.0.5 \
#                           --on-call "+1 555 010 0100" --server-name portal.example.org
#   deploy/install.sh nginx --server-name portal.example.org --on-call "+1 555 010 0100" \
#                           --app 10.0.0.11:8000 --app 10.0.0.12:8000 \
#                           --tls-cert /etc/letsencrypt/live/…/fullchain.pem \
#                           --tls-key /etc/letsencrypt/live/…/privkey.pem
#
# app:   the `portal` user, /opt/portal (code, a virtual environment, deploy/ and
#        docs/), /var/lib/portal, /var/backups/portal, the systemd units, and
#        /etc/portal/portal.env: on the first host it is made with new secrets (copy
#        that file to the other app hosts, and pass --env-from it there); it is never
#        overwritten. Then: systemctl start portal-migrate (one host), enable
#        portal-web, portal-worker@1, portal-backup.timer, portal-restore-drill.timer.
# nginx: the site (deploy/nginx/portal.conf with your names filled in), the crisis
#        page nginx serves when no app host answers, and the on-call number in
#        /var/www/portal-crisis/on-call.txt; checks the whole configuration with
#        `nginx -t` before reloading.
#
# --root DIR writes everything under DIR instead of / and touches no service, user
# or package (the tests and deploy/rehearse.sh use it).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
ROLE=${1:-}
shift || true
ROOT="" SERVER_NAME="" ON_CALL="" DATABASE_URL="" BIND="127.0.0.1:8000" PROXY="127.0.0.1"
TLS_CERT="" TLS_KEY="" ENV_FROM="" HTTP_LISTEN="80" HTTPS_LISTEN="443"
ACCESS_LOG="/var/log/nginx/portal.access.log"
APPS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=$2 ;;
    --server-name) SERVER_NAME=$2 ;;
    --on-call) ON_CALL=$2 ;;
    --database-url) DATABASE_URL=$2 ;;
    --bind) BIND=$2 ;;
    --proxy) PROXY=$2 ;;
    --app) APPS+=("$2") ;;
    --tls-cert) TLS_CERT=$2 ;;
    --tls-key) TLS_KEY=$2 ;;
    --env-from) ENV_FROM=$2 ;;
    --http-listen) HTTP_LISTEN=$2 ;;
    --https-listen) HTTPS_LISTEN=$2 ;;
    --access-log) ACCESS_LOG=$2 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done

fail() { echo "install.sh: $*" >&2; exit 2; }

# The on-call number goes into a page nginx serves: digits and phone punctuation only.
check_on_call() {
  [ -n "$ON_CALL" ] || fail "--on-call is required (the program's on-call number)"
  [[ "$ON_CALL" =~ ^\+?[0-9][0-9\ ().-]{6,24}$ ]] \
    || fail "--on-call must be a phone number (digits, spaces, + - . and brackets)"
}

# Values that go into nginx's configuration: host names, addresses and ports only.
check_names() {
  [[ "$SERVER_NAME" =~ ^[A-Za-z0-9.-]+$ ]] || fail "--server-name must be a host name"
  local host_port='^[][A-Za-z0-9.:-]+:[0-9]+$'
  for app in "${APPS[@]}"; do
    [[ "$app" =~ $host_port ]] || fail "--app must be HOST:PORT"
  done
}

install_nginx() {
  check_on_call
  [ -n "$SERVER_NAME" ] || fail "--server-name is required"
  [ ${#APPS[@]} -gt 0 ] || fail "at least one --app HOST:PORT is required"
  check_names
  [ -n "$TLS_CERT" ] && [ -n "$TLS_KEY" ] || fail "--tls-cert and --tls-key are required"
  local site="$ROOT/etc/nginx/sites-available/portal"
  local crisis="$ROOT/var/www/portal-crisis"
  mkdir -p "$(dirname "$site")" "$ROOT/etc/nginx/sites-enabled" "$crisis"
  local servers=""
  for app in "${APPS[@]}"; do
    servers+="    server ${app} max_fails=2 fail_timeout=10s;"$'\n'
  done
  # The crisis root as nginx will see it (the real path, even under --root).
  local crisis_root="/var/www/portal-crisis"
  [ -n "$ROOT" ] && crisis_root="$crisis"
  python3 - "$HERE/nginx/portal.conf" "$site" <<PY
import sys
text = open(sys.argv[1]).read()
values = {
    "@UPSTREAM_SERVERS@": """${servers%$'\n'}""",
    "@SERVER_NAME@": "$SERVER_NAME",
    "@TLS_CERT@": "$TLS_CERT",
    "@TLS_KEY@": "$TLS_KEY",
    "@CRISIS_ROOT@": "$crisis_root",
    "@HTTP_LISTEN@": "$HTTP_LISTEN",
    "@HTTPS_LISTEN@": "$HTTPS_LISTEN",
    "@ACCESS_LOG@": "$ACCESS_LOG",
}
for key, value in values.items():
    text = text.replace(key, value)
assert "@" not in "".join(line for line in text.splitlines() if not line.lstrip().startswith("#")), "unfilled value"
open(sys.argv[2], "w").write(text)
PY
  ln -sf ../sites-available/portal "$ROOT/etc/nginx/sites-enabled/portal"
  install -m 0644 "$HERE/nginx/crisis/_portal_down.html" "$crisis/_portal_down.html"
  printf '%s' "$ON_CALL" > "$crisis/on-call.txt"
  chmod 0644 "$crisis/on-call.txt"
  if [ -z "$ROOT" ]; then
    rm -f /etc/nginx/sites-enabled/default
    nginx -t
    systemctl reload nginx
  fi
  echo "nginx site installed: $site"
}

secret() { python3 -c "import secrets; print(secrets.token_urlsafe(48))"; }

install_app() {
  local opt="$ROOT/opt/portal" etc="$ROOT/etc/portal" units="$ROOT/etc/systemd/system"
  mkdir -p "$opt" "$etc" "$units" "$ROOT/var/lib/portal" "$ROOT/var/backups/portal"
  if [ -z "$ROOT" ]; then
    id portal >/dev/null 2>&1 || adduser --system --group --home /var/lib/portal portal
    apt-get install -y -qq python3-venv postgresql-client >/dev/null
    python3 -m venv "$opt/venv"
    "$opt/venv/bin/pip" install -q --upgrade "$REPO"
  fi
  cp -r "$REPO/deploy" "$REPO/docs" "$opt/"
  install -m 0644 "$HERE"/systemd/portal-* "$units/"
  local env_file="$etc/portal.env"
  if [ -n "$ENV_FROM" ]; then
    install -m 0640 "$ENV_FROM" "$env_file"
  elif [ ! -e "$env_file" ]; then
    check_on_call
    [ -n "$DATABASE_URL" ] || fail "--database-url is required on the first host"
    [ -n "$SERVER_NAME" ] || fail "--server-name is required on the first host"
    local keys private public
    keys=$(cd "$ROOT/var/lib/portal" && PORTAL_DATABASE_URL=sqlite:// \
      "${PORTAL_PYTHON:-$opt/venv/bin/python}" -c "
from py_vapid import Vapid
from portal.blueprints.notifications.push import private_key_text, public_key_of
v = Vapid(); v.generate_keys(); print(private_key_text(v), public_key_of(v))")
    read -r private public <<<"$keys"
    python3 - "$HERE/portal.env" "$env_file" <<PY
import sys
text = open(sys.argv[1]).read()
values = {
    "@SECRET_KEY@": "$(secret)",
    "@AUDIT_KEY@": "$(secret)",
    "@METRICS_TOKEN@": "$(secret)",
    "@DATABASE_URL@": "$DATABASE_URL",
    "@ON_CALL_PHONE@": "$ON_CALL",
    "@PROXY_ADDRESSES@": "$PROXY",
    "@BIND@": "$BIND",
    "@VAPID_PRIVATE_KEY@": "$private",
    "@VAPID_PUBLIC_KEY@": "$public",
    "@ADMIN_EMAIL@": "it@$SERVER_NAME",
    "@SERVER_NAME@": "$SERVER_NAME",
}
for key, value in values.items():
    text = text.replace(key, value)
open(sys.argv[2], "w").write(text)
PY
    chmod 0640 "$env_file"
    echo "made $env_file with new secrets: copy it to the other app hosts"
  fi
  if [ -z "$ROOT" ]; then
    chown -R portal:portal /var/lib/portal /var/backups/portal
    chown root:portal "$env_file"
    systemctl daemon-reload
  fi
  echo "app installed: $opt; next: systemctl start portal-migrate (one host), then" \
    "systemctl enable --now portal-web portal-worker@1 portal-backup.timer" \
    "portal-restore-drill.timer"
}

case "$ROLE" in
  app) install_app ;;
  nginx) install_nginx ;;
  *) echo "usage: install.sh app|nginx [options] (see the top of this file)" >&2; exit 2 ;;
esac
