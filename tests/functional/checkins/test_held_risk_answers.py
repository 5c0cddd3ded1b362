"""A risk answer posted while the database is down is held in Redis (the real one on
127.0.0.1:6379, under a prefix of this test run's own) and stored by the worker once
the database is back: a check-in and its risk flag, once, even when the phone sends
the same answers again later."""

from __future__ import annotations

import secrets

import pytest
import redis
from sqlalchemy import func, select

from portal import create_app, db
from portal.audit import AuditEvent
from portal.blueprints.checkins.held import KEPT_WORDS, QUEUE, release_held_risk_answers
from portal.blueprints.checkins.models import CheckIn, ScreenerResponse
from portal.blueprints.checkins.sending import sending_token
from portal.blueprints.safety.models import RiskFlag
from tests.conftest import sign_in
from tests.functional.checkins.test_checkins import checkin_data
from tests.functional.shell.test_database_down import DownClient, _unreachable_url

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_or_skip() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    return client


@pytest.fixture
def prefix():
    """A prefix of this test's own, its keys deleted at the end."""
    client = _redis_or_skip()
    made = f"portal-test-{secrets.token_hex(4)}:"
    yield made
    for key in client.scan_iter(f"{made}*"):
        client.delete(key)


@pytest.fixture
def down_app(prefix, transaction):
    engine = db.make_engine(_unreachable_url())
    app = create_app(
        {
            "TESTING": True,
            "ENGINE": engine,
            "ARGON2_PROFILE": "test",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ON_CALL_PHONE": "+1-555-010-0142",
            "REDIS_URL": REDIS_URL,
            "REDIS_PREFIX": prefix,
        }
    )
    # making an app binds the session to its engine: back to the test's transaction
    db.session.remove()
    db.session.configure(bind=transaction, join_transaction_mode="create_savepoint")
    yield app
    engine.dispose()


@pytest.fixture
def down_client(down_app, transaction, client, world):
    """The patient's phone, signed in before the database went down."""
    sign_in(client, world.patient)
    down = DownClient(down_app, transaction)
    down.set_cookie("portal_session", client.get_cookie("portal_session").value)
    return down


@pytest.fixture
def worker_app(app, prefix):
    """The suite's app, with the same Redis: its worker round stores what was held."""
    app.config.update(REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix)
    yield app
    app.config.update(REDIS_URL=None)
    app.extensions.pop("redis", None)


def _signed(app, patient_id: str, **changes) -> dict:
    data = checkin_data(**changes)
    with app.test_request_context():
        data["sender"] = sending_token(patient_id, data["idempotency_key"])
    return data


def _release(app) -> int:
    """One worker round's task, in the app's context as the worker runs it."""
    with app.app_context():
        return release_held_risk_answers(app)


def _held(prefix: str) -> int:
    return redis.Redis.from_url(REDIS_URL).llen(f"{prefix}{QUEUE}")


def _count(model, **where) -> int:
    query = select(func.count()).select_from(model).filter_by(**where)
    return db.session.scalar(query)


def test_a_not_safe_check_in_from_a_phone_that_keeps_nothing_reaches_the_team(
    down_app, down_client, worker_app, prefix, world
):
    sending = _signed(down_app, world.patient.id, feels_safe="no", note="cannot go on")
    response = down_client.post("/check-in", data=sending)
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert str(KEPT_WORDS) in html and "tel:988" in html
    assert _held(prefix) == 1
    assert _count(RiskFlag, patient_id=world.patient.id) == 0  # nothing stored yet

    assert _release(worker_app) == 1
    (checkin,) = db.session.scalars(
        select(CheckIn).where(CheckIn.patient_id == world.patient.id)
    ).all()
    assert checkin.feels_safe is False and checkin.note == "cannot go on"
    assert _count(RiskFlag, patient_id=world.patient.id) == 1
    assert _held(prefix) == 0
    assert (
        _count(AuditEvent, data_kind="held_risk_answer", patient_id=world.patient.id)
        == 1
    )


def test_the_phone_sending_the_same_answers_later_stores_nothing_twice(
    down_app, down_client, worker_app, client, prefix, world
):
    sending = _signed(down_app, world.patient.id, feels_safe="no")
    assert down_client.post("/queued/check-in", data=sending).status_code == 503
    assert _release(worker_app) == 1
    # the service worker's own resend, with the same key, once the server answers
    with worker_app.test_request_context():
        sending["sender"] = sending_token(world.patient.id, sending["idempotency_key"])
    assert client.post("/queued/check-in", data=sending).status_code == 200
    assert _count(CheckIn, patient_id=world.patient.id) == 1
    assert _count(RiskFlag, patient_id=world.patient.id) == 1


def test_a_risk_answer_on_the_phq9_is_held_and_stored_as_the_screener(
    down_app, down_client, worker_app, prefix, world
):
    answers = {f"q{n}": "1" for n in range(1, 10)}  # item 9 above 0
    sending = _signed(down_app, world.patient.id)
    form = {
        "idempotency_key": sending["idempotency_key"],
        "sender": sending["sender"],
        **answers,
    }
    response = down_client.post("/questions/a", data=form)
    assert response.status_code == 503 and str(KEPT_WORDS) in response.get_data(
        as_text=True
    )
    assert _release(worker_app) == 1
    (stored,) = db.session.scalars(
        select(ScreenerResponse).where(ScreenerResponse.patient_id == world.patient.id)
    ).all()
    assert stored.risk_positive and stored.total == 9
    assert _count(RiskFlag, patient_id=world.patient.id) == 1


def test_answers_without_a_risk_answer_or_with_a_forged_token_are_not_held(
    down_app, down_client, prefix, world
):
    safe = _signed(down_app, world.patient.id, feels_safe="yes")
    response = down_client.post("/check-in", data=safe)
    assert response.status_code == 503 and str(KEPT_WORDS) not in response.get_data(
        as_text=True
    )
    forged = _signed(down_app, world.patient.id, feels_safe="no")
    forged["sender"] = forged["sender"][:-4] + "AAAA"
    response = down_client.post("/check-in", data=forged)
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert str(KEPT_WORDS) not in html and "tel:988" in html  # crisis help all the same
    assert _held(prefix) == 0


def test_with_redis_gone_too_the_page_still_shows_crisis_help_and_claims_nothing(
    down_app, down_client, world
):
    down_app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    down_app.extensions.pop("redis", None)
    sending = _signed(down_app, world.patient.id, feels_safe="no")
    response = down_client.post("/check-in", data=sending)
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "tel:988" in html and str(KEPT_WORDS) not in html


def test_a_held_phq9_from_a_spanish_page_is_stored_as_spanish(
    down_app, down_client, worker_app, prefix, world
):
    sending = _signed(down_app, world.patient.id)
    form = {
        "idempotency_key": sending["idempotency_key"],
        "sender": sending["sender"],
        "language": "es",
        **{f"q{n}": "1" for n in range(1, 10)},
    }
    assert down_client.post("/questions/a", data=form).status_code == 503
    assert _release(worker_app) == 1
    stored = db.session.scalars(select(ScreenerResponse)).one()
    assert stored.language == "es" and stored.risk_positive


def test_a_held_check_in_with_a_mistake_still_reaches_the_team_from_the_worker(
    down_app, down_client, worker_app, prefix, world
):
    """The worker has no page and no request: the form's messages (never shown) are
    made in English there rather than failing on the page's language."""
    data = _signed(down_app, world.patient.id, feels_safe="no", sleep_hours="30")
    assert down_client.post("/check-in", data=data).status_code == 503
    assert _release(worker_app) == 1
    assert _count(RiskFlag, patient_id=world.patient.id) == 1
    assert _count(CheckIn, patient_id=world.patient.id) == 0
