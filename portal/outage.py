"""What the portal still does for a request the database could not answer.

The 503 page (crisis help from memory) is made in core; a feature that can keep
something safe without the database registers a hook with `@when_database_down`. A
hook runs inside the 503 handler, must not touch the database, and returns a sentence
for the person (what was kept) or None. A hook that fails is logged and skipped: it
can never take the crisis help off the page.

Holding is done in Redis (`PORTAL_REDIS_URL`), a store every app host and worker
shares; without it nothing is held and the page says nothing more."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, current_app

log = logging.getLogger("portal.outage")

HOOKS: list[Callable[[], str | None]] = []


def when_database_down(func: Callable[[], str | None]):
    """Register `func` to run in the 503 handler of a request the database failed."""
    HOOKS.append(func)
    return func


def what_was_kept() -> list[str]:
    """The sentences of every hook that kept something for this request."""
    said = []
    for hook in HOOKS:
        try:
            sentence = hook()
        except Exception:  # never lose the crisis page to a hook
            log.exception("database-down hook %s failed", hook.__name__)
            continue
        if sentence:
            said.append(sentence)
    return said


def redis_of(app: Flask | None = None):
    """The installation's Redis client, or None when PORTAL_REDIS_URL is not set.
    Short timeouts: this runs while something else is already failing."""
    app = app or current_app
    url = app.config.get("REDIS_URL")
    if not url:
        return None
    client = app.extensions.get("redis")
    if client is None:
        import redis

        client = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=2, decode_responses=True
        )
        app.extensions["redis"] = client
    return client


def redis_key(app: Flask, name: str) -> str:
    """A key under the installation's prefix (PORTAL_REDIS_PREFIX, "portal:")."""
    return f"{app.config.get('REDIS_PREFIX', 'portal:')}{name}"
