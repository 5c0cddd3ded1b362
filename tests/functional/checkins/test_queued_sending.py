"""A check-in kept on the phone with no signal is sent later by the service worker with
no cookie: the form's signed token names the patient and key. It is stored as that
patient's even when someone else is signed in on the phone, never as anyone else, once
only, and a token that is not genuine, too old or made for another key is refused."""

from __future__ import annotations

import re
import time

from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.checkins.models import CheckIn, ScreenerResponse
from portal.blueprints.checkins.sending import SALT
from portal.blueprints.safety.models import RiskFlag
from portal.security import Role
from tests.conftest import sign_in
from tests.functional.checkins.test_checkins import checkin_data

SENDER_RE = re.compile(r'name="sender" value="([^"]+)"')
KEY_RE = re.compile(r'name="idempotency_key"[^>]*value="([^"]+)"')


class EightDaysAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 8 * 24 * 3600


def _kept_form(client, path: str = "/check-in") -> dict:
    """What the phone keeps from a form loaded while signed in: the key and token."""
    html = client.get(path).get_data(as_text=True)
    return {
        "idempotency_key": KEY_RE.search(html)[1],
        "sender": SENDER_RE.search(html)[1],
    }


def _count(model, **where) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return db.session.scalar(query)


def test_a_kept_checkin_is_stored_as_its_patient_with_no_cookie(app, client, world):
    sign_in(client, world.patient)
    kept = _kept_form(client)
    phone = app.test_client()  # the service worker sends with no cookie at all
    sent = phone.post("/queued/check-in", data=checkin_data(**kept, note="on the bus"))
    assert sent.status_code == 200
    stored = db.session.scalar(
        select(CheckIn).where(CheckIn.patient_id == world.patient.id)
    )
    assert stored.note == "on the bus"
    assert (
        _count(
            AuditEvent, actor_id=world.patient.id, data_kind="checkin", action="create"
        )
        == 1
    )
    again = phone.post("/queued/check-in", data=checkin_data(**kept, note="changed"))
    assert again.status_code == 200  # a resend: kept once, unchanged
    assert _count(CheckIn, patient_id=world.patient.id) == 1
    note = select(CheckIn.note).where(CheckIn.patient_id == world.patient.id)
    assert db.session.scalar(note) == "on the bus"


def test_on_a_shared_phone_it_is_never_stored_as_the_person_signed_in_now(
    app, client, world
):
    sign_in(client, world.patient)
    kept = _kept_form(client)
    client.post("/sign-out", data={})  # her session ends (or times out)
    other = app.test_client()
    sign_in(other, world.patient_b)  # someone else signs in on the same phone
    sent = other.post("/queued/check-in", data=checkin_data(**kept, feels_safe="no"))
    assert sent.status_code == 200
    assert _count(CheckIn, patient_id=world.patient.id) == 1
    assert _count(CheckIn, patient_id=world.patient_b.id) == 0
    assert _count(RiskFlag, patient_id=world.patient.id) == 1
    assert _count(RiskFlag, patient_id=world.patient_b.id) == 0


def test_a_token_for_another_key_or_altered_or_too_old_is_refused(app, client, world):
    sign_in(client, world.patient)
    kept = _kept_form(client)
    phone = app.test_client()
    other_key = checkin_data(sender=kept["sender"])  # a fresh key of its own
    altered = checkin_data(
        idempotency_key=kept["idempotency_key"], sender=kept["sender"][:-2] + "xx"
    )
    old = URLSafeTimedSerializer(app.secret_key, salt=SALT, signer=EightDaysAgo)
    too_old = checkin_data(
        idempotency_key="k-too-old-1",
        sender=old.dumps({"p": world.patient.id, "k": "k-too-old-1"}),
    )
    for data in (other_key, altered, too_old, checkin_data()):
        assert phone.post("/queued/check-in", data=data).status_code == 404
    assert _count(CheckIn, patient_id=world.patient.id) == 0


def test_a_kept_risk_answer_with_a_wrong_field_still_reaches_the_team(
    app, client, world
):
    sign_in(client, world.patient)
    kept = _kept_form(client)
    data = checkin_data(**kept, feels_safe="no", mood="eleven")
    refused = app.test_client().post("/queued/check-in", data=data)
    assert refused.status_code == 422  # the phone drops it: nothing more to send
    assert _count(CheckIn, patient_id=world.patient.id) == 0
    assert _count(RiskFlag, patient_id=world.patient.id) == 1


def test_a_kept_phq9_is_stored_as_its_patient(app, client, world):
    sign_in(client, world.patient)
    kept = _kept_form(client, "/questions/a")
    answers = {f"q{n}": "1" for n in range(1, 10)}
    sent = app.test_client().post("/queued/questions/a", data=answers | kept)
    assert sent.status_code == 200
    assert _count(ScreenerResponse, patient_id=world.patient.id) == 1


def test_the_ordinary_check_in_still_needs_its_csrf_token(client, world):
    sign_in(client, world.patient)
    kept = _kept_form(client)
    assert client.post("/check-in", data=checkin_data(**kept)).status_code == 400


def test_staff_cannot_send_with_a_patients_form_token_as_themselves(app, client, world):
    nurse = world.staff[Role.NURSE]
    sign_in(client, nurse)
    assert client.get("/check-in").status_code == 404


def _end_session(client) -> None:
    from datetime import timedelta

    from portal.blueprints.auth.models import WebSession
    from portal.blueprints.auth.sessions import token_hash
    from portal.db import utcnow

    row = db.session.get(
        WebSession, token_hash(client.get_cookie("portal_session").value)
    )
    row.last_seen_at = utcnow() - timedelta(hours=1)
    db.session.commit()


def test_a_risk_answer_posted_after_the_session_ended_is_stored_not_lost(client, world):
    """No JavaScript, the check-in page left open past the idle limit: the post is
    sent on (307, same body) to the twin that takes queued sendings, so the flag opens
    and crisis help shows instead of a sign-in page that would drop the answer."""
    sign_in(client, world.patient)
    kept = _kept_form(client)
    html = client.get("/check-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)[1]
    _end_session(client)
    data = checkin_data(**kept, feels_safe="no", csrf_token=token)
    sent = client.post("/check-in", data=data)
    assert sent.status_code == 307
    assert sent.headers["Location"].endswith("/queued/check-in")
    page = client.post(sent.headers["Location"], data=data)
    assert page.status_code == 200
    assert "988" in page.get_data(as_text=True)
    assert _count(RiskFlag, patient_id=world.patient.id) == 1
    assert _count(CheckIn, patient_id=world.patient.id) == 1


def test_a_post_without_a_sending_token_after_the_session_ended_asks_to_sign_in(
    client, world
):
    sign_in(client, world.patient)
    _end_session(client)
    sent = client.post("/check-in", data=checkin_data(feels_safe="no"))
    assert sent.status_code == 302 and "sign-in" in sent.headers["Location"]
    assert _count(RiskFlag, patient_id=world.patient.id) == 0


def test_a_phq9_posted_after_the_session_ended_goes_to_its_twin(client, world):
    sign_in(client, world.patient)
    kept = _kept_form(client, "/questions/a")
    _end_session(client)
    answers = {f"q{n}": "2" for n in range(1, 10)}  # item 9 answered: a risk answer
    sent = client.post("/questions/a", data=answers | kept)
    assert sent.status_code == 307
    assert sent.headers["Location"].endswith("/queued/questions/a")
    assert client.post(sent.headers["Location"], data=answers | kept).status_code == 200
    assert _count(ScreenerResponse, patient_id=world.patient.id) == 1
    assert _count(RiskFlag, patient_id=world.patient.id) == 1
