"""Error tracking: off without PORTAL_SENTRY_DSN; with it, the real Sentry SDK builds
its events from a failing request and a failing worker task, and what its transport
is handed (the envelope it would send) holds no body, cookie, query string, local
variable, user, header outside the safe list, or quoted value, but does hold the
request id that ties it to the request's log line."""

from __future__ import annotations

import json
import logging
import secrets

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from portal import create_app, db
from portal.extensions import csrf
from portal.security import public

MARKER = "Jordan Rivera MARKER-5521"  # with spaces: no log line may keep it


class RecordingTransport(Transport):
    """Keeps each envelope as the bytes that would go over the wire."""

    sent: list[bytes] = []

    def capture_envelope(self, envelope) -> None:
        RecordingTransport.sent.append(envelope.serialize())

    def flush(self, timeout=None, callback=None) -> None:
        return None


def _events() -> list[dict]:
    events = []
    for raw in RecordingTransport.sent:
        lines = raw.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    return events


@pytest.fixture
def tracked_app(engine, transaction):
    RecordingTransport.sent = []
    app = create_app(
        {
            "TESTING": False,  # Flask re-raises errors in tests; the SDK must see them
            "ENGINE": engine,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "SENTRY_DSN": "https://public@sentry.example.invalid/1",
            "SENTRY_TRANSPORT": RecordingTransport,
        }
    )

    db.session.configure(bind=transaction)  # create_app bound it to the engine

    @csrf.exempt
    @public
    def explode():
        note = f"I feel {MARKER} today"  # a local variable with patient text
        raise ValueError(f"could not save '{note}'")

    app.add_url_rule("/explode", "explode", explode, methods=["GET", "POST"])
    yield app
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: the SDK is off again for the other tests


def test_no_dsn_means_no_client(app):
    assert app.config["SENTRY_DSN"] is None
    assert not sentry_sdk.get_client().is_active()


def test_a_failing_request_leaves_with_none_of_its_data(tracked_app):
    client = tracked_app.test_client()
    client.set_cookie("portal_session", "cookie-MARKER-5521")
    response = client.post(
        "/explode?name=MARKER-5521",
        data={"note": MARKER},
        headers={
            "X-Request-Id": "req-0123456789abcdef",
            "Authorization": f"Bearer {MARKER}",
            "X-Forwarded-For": "203.0.113.9",
            "User-Agent": "Phone",
        },
    )
    assert response.status_code == 500
    sentry_sdk.get_client().flush()
    events = _events()
    assert len(events) == 1
    event = events[0]
    wire = json.dumps(event)
    # The frames carry their source lines (code, not data): the values never.
    assert MARKER not in wire and "MARKER-5521" not in wire
    assert "203.0.113.9" not in wire
    assert event["tags"]["request_id"] == "req-0123456789abcdef"
    assert event["transaction"] == "explode"
    request = event["request"]
    assert request["url"].endswith("/explode")
    assert set(request) == {"method", "url", "headers"}
    assert {k.lower() for k in request["headers"]} <= {
        "host",
        "user-agent",
        "x-request-id",
        "content-type",
        "content-length",
        "accept",
        "hx-request",
    }
    assert "user" not in event and "breadcrumbs" not in event and "extra" not in event
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "ValueError"
    assert exception["value"] == "could not save …"
    frames = exception["stacktrace"]["frames"]
    assert any(frame.get("function") == "explode" for frame in frames)
    assert all("vars" not in frame for frame in frames)


def test_an_error_logged_by_the_worker_leaves_scrubbed(tracked_app):
    log = logging.getLogger("portal.worker")
    with tracked_app.app_context():
        try:
            int(f"{MARKER} 7")
        except ValueError:
            log.exception("worker task %s failed for %s", "deliver_push", MARKER)
    sentry_sdk.get_client().flush()
    (event,) = _events()
    wire = json.dumps(event)
    assert MARKER not in wire
    assert event["logentry"]["params"] == ["deliver_push", "[redacted]"]
    assert event["level"] == "error"
