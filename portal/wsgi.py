"""The WSGI app for gunicorn: `gunicorn -c deploy/gunicorn.conf.py portal.wsgi:app`.

A configuration the portal refuses (a missing secret, a VAPID key that does not match
its public key, a malformed setting) stops gunicorn with one plain line naming the
setting: exit status 3 is gunicorn's "worker failed to boot", which halts the master
instead of restarting workers that can never start.
"""

from __future__ import annotations

import sys

from portal import create_app
from portal.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    print(f"portal: refusing to start: {error}", file=sys.stderr, flush=True)
    sys.exit(3)
