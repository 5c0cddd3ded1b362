"""Error tracking (the Sentry SDK, which also speaks to GlitchTip and other servers of
the same protocol), off unless `PORTAL_SENTRY_DSN` is set.

What may leave is decided by a list of what to keep, not of what to remove, so that
nothing a future SDK adds slips out: an event keeps its id, time, level, logger, the
route's name, host, release and environment, the request id (to find its log line),
the method, the URL without its query string, a few harmless headers, and each
exception's type, its message cut at the first quote (where Python and PostgreSQL
quote values) and its frames' code lines, never their local variables. Request
bodies, cookies, query strings, other headers, the user, breadcrumbs and extra data
never leave. Log records reach it already scrubbed (portal/logs.py).
"""

from __future__ import annotations

import logging

from flask import Flask

from portal.logs import QUOTE, current_request_id, safe_arg

SAFE_HEADERS = {
    "accept",
    "content-length",
    "content-type",
    "host",
    "hx-request",
    "user-agent",
    "x-request-id",
}
KEPT = {
    "event_id",
    "timestamp",
    "platform",
    "level",
    "logger",
    "transaction",
    "transaction_info",
    "server_name",
    "release",
    "environment",
    "sdk",
    "fingerprint",
}
FRAME_KEPT = {
    "filename",
    "abs_path",
    "module",
    "function",
    "lineno",
    "colno",
    "in_app",
    "pre_context",
    "context_line",
    "post_context",
}
CONTEXTS_KEPT = {"runtime", "os", "trace"}
FLASK_ERROR_LINE = "Exception on "


def init_app(app: Flask) -> None:
    """Start the SDK when a DSN is configured; otherwise do nothing at all."""
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.dedupe import DedupeIntegration
    from sentry_sdk.integrations.excepthook import ExcepthookIntegration
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.threading import ThreadingIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=app.config.get("SENTRY_ENVIRONMENT"),
        transport=app.config.get("SENTRY_TRANSPORT"),  # tests record envelopes
        include_local_variables=False,
        max_request_body_size="never",
        max_breadcrumbs=0,
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=[
            FlaskIntegration(transaction_style="endpoint"),
            LoggingIntegration(level=None, event_level=logging.ERROR),
            DedupeIntegration(),
            ExcepthookIntegration(),
            ThreadingIntegration(),
        ],
        traces_sample_rate=None,
        before_send=scrub_event,
    )


def scrub_event(event: dict, _hint: dict | None = None) -> dict | None:
    """What may leave of an event (see the module's docstring)."""
    message = str((event.get("logentry") or {}).get("message") or "")
    if message.startswith(FLASK_ERROR_LINE) and "exception" not in event:
        return None  # Flask's own log line of an error the Flask integration sent
    kept = {key: event[key] for key in KEPT if key in event}
    kept["tags"] = {"request_id": current_request_id() or "none"}
    if "logentry" in event:
        entry = event["logentry"]
        kept["logentry"] = {
            "message": entry.get("message"),
            "params": [safe_arg(param) for param in entry.get("params") or ()],
        }
    if "exception" in event:
        kept["exception"] = {
            "values": [_exception(v) for v in event["exception"].get("values", [])]
        }
    if "request" in event:
        kept["request"] = _request(event["request"])
    contexts = event.get("contexts") or {}
    kept["contexts"] = {k: v for k, v in contexts.items() if k in CONTEXTS_KEPT}
    return kept


def _exception(value: dict) -> dict:
    first = str(value.get("value") or "").split("\n", 1)[0]
    frames = (value.get("stacktrace") or {}).get("frames") or []
    return {
        "type": value.get("type"),
        "module": value.get("module"),
        "value": QUOTE.sub("…", first)[:200],
        "mechanism": value.get("mechanism"),
        "stacktrace": {
            "frames": [{k: f[k] for k in FRAME_KEPT if k in f} for f in frames]
        },
    }


def _request(request: dict) -> dict:
    headers = request.get("headers") or {}
    return {
        "method": request.get("method"),
        "url": str(request.get("url") or "").split("?", 1)[0],
        "headers": {k: v for k, v in headers.items() if k.lower() in SAFE_HEADERS},
    }
