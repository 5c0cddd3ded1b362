"""Sign-ins arriving at the same moment, on real PostgreSQL connections in real
threads: thirty wrong passwords at once from one client are answered without an error
and no more of them are tried than the limit allows; two sign-ins sending the same
second-factor code at once let exactly one in.

The requests run whole, through the app, and commit for real (threads cannot see a
test's rolled-back transaction); the rows are removed afterwards, and audit rows stay,
as the log is append-only.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal import db
from portal.blueprints.auth import services
from portal.blueprints.auth.models import SignInThrottle, User, WebSession
from portal.db import new_id, utcnow
from portal.security import Role
from tests import factories as f
from tests.conftest import POSTGRES_ONLY, csrf_from

pytestmark = POSTGRES_ONLY

SENDERS = 30


@pytest.fixture
def race_engine(race_engine_for):
    return race_engine_for(SENDERS)


@pytest.fixture
def live(race_engine):
    """Requests of this test use the race engine and commit; rows removed after."""
    started = utcnow()
    db.session.remove()
    db.session.configure(bind=race_engine)
    people: list[str] = []
    yield people
    with Session(bind=race_engine) as session:
        session.execute(delete(SignInThrottle))
        session.execute(
            delete(WebSession).where(
                (WebSession.user_id.in_(people)) | (WebSession.created_at >= started)
            )
        )
        session.execute(delete(User).where(User.id.in_(people)))
        session.commit()


def _person(app, race_engine, people: list[str], **fields) -> User:
    with app.app_context():
        password_hash = services.hash_password(f.PASSWORD)
    user = User(
        id=new_id(),
        email=f"race-{new_id()}@example.test",
        display_name="Race Person",
        password_hash=password_hash,
        **fields,
    )
    with Session(bind=race_engine, expire_on_commit=False) as session:
        session.add(user)
        session.commit()
    people.append(user.id)
    return user


def _client(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _at_once(senders: list, send) -> list:
    """Each sender's request at the same moment, in its own thread."""
    barrier = threading.Barrier(len(senders))

    def go(sender):
        barrier.wait(timeout=30)
        return send(sender)

    with ThreadPoolExecutor(max_workers=len(senders)) as pool:
        return list(pool.map(go, senders))


def test_thirty_wrong_passwords_at_once_are_answered_and_never_over_the_limit(
    app, race_engine, live
):
    patient = _person(app, race_engine, live, role=Role.PATIENT)
    clients = [_client(app, "198.51.100.7") for _ in range(SENDERS)]
    tokens = [csrf_from(c.get("/sign-in").get_data(as_text=True)) for c in clients]
    senders = list(zip(clients, tokens, strict=True))

    def send(sender):
        client, token = sender
        form = {"csrf_token": token, "email": patient.email, "password": "wrong one!"}
        return client.post("/sign-in", data=form)

    answers = _at_once(senders, send)
    statuses = sorted(a.status_code for a in answers)
    limit = app.config["MAX_FAILED_SIGN_INS"]
    assert statuses == [200] * limit + [429] * (SENDERS - limit)
    assert all("Retry-After" in a.headers for a in answers if a.status_code == 429)
    with Session(bind=race_engine) as session:
        counts = session.scalars(select(SignInThrottle.failures)).all()
    assert counts and max(counts) <= limit


def test_two_sign_ins_with_the_same_code_at_once_let_exactly_one_in(
    app, race_engine, live, monkeypatch
):
    nurse = _person(
        app,
        race_engine,
        live,
        role=Role.NURSE,
        totp_secret=f.TOTP_SECRET,
        totp_enabled=True,
    )
    phones = [_client(app, "198.51.100.8"), _client(app, "203.0.113.9")]
    for phone in phones:
        page = phone.get("/sign-in").get_data(as_text=True)
        form = {"csrf_token": csrf_from(page), "email": nurse.email}
        signed = phone.post("/sign-in", data=form | {"password": f.PASSWORD})
        assert signed.headers["Location"] == "/sign-in/code"
    tokens = [csrf_from(p.get("/sign-in/code").get_data(as_text=True)) for p in phones]
    code = pyotp.TOTP(nurse.totp_secret).now()
    claim, both_checked = services._claim_totp_step, threading.Barrier(2)

    def claim_together(user, step):
        both_checked.wait(timeout=30)  # both codes matched; now both claim the step
        return claim(user, step)

    monkeypatch.setattr(services, "_claim_totp_step", claim_together)

    def send(sender):
        phone, token = sender
        return phone.post("/sign-in/code", data={"csrf_token": token, "code": code})

    answers = _at_once(list(zip(phones, tokens, strict=True)), send)
    assert sorted(a.status_code for a in answers) == [200, 302]
    assert sum(p.get("/staff").status_code == 200 for p in phones) == 1
