"""One patient's check-ins arriving at the same moment, on real PostgreSQL connections
in real threads: a check-in resent while its first sending is still being saved is
stored once and tells the team once; risk answers sent at once open one flag that
counts every one of them; a late resend that read before its key was stored does not
undo a later edit.

The data is committed for real (threads cannot see a test's rolled-back transaction)
and removed afterwards; audit rows stay, as the log is append-only.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from flask import g
from flask_login import login_user
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.auth.models import User
from portal.blueprints.checkins import services, views
from portal.blueprints.checkins.forms import CheckInForm
from portal.blueprints.checkins.models import CheckIn, CheckInSubmission
from portal.blueprints.programs.models import Enrollment, LevelOfCare, Program
from portal.blueprints.safety.models import RiskFlag, RiskFlagEvent, RiskSettings
from portal.db import new_id
from portal.security import Role
from tests.conftest import POSTGRES_ONLY

pytestmark = POSTGRES_ONLY

SENDERS = 10


@pytest.fixture
def race_engine(race_engine_for):
    return race_engine_for(SENDERS)


@pytest.fixture
def patient_id(race_engine):
    """An enrolled patient of a program with nobody to page (no outbox rows to
    clean), committed; all removed at the end."""
    session = Session(bind=race_engine)
    program = Program(id=new_id(), name="Race Program", on_call_phone="+1-555-0100")
    patient = User(
        id=new_id(),
        email=f"race-{new_id()}@example.test",
        display_name="Race Patient",
        role=Role.PATIENT,
    )
    session.add_all([program, patient])
    session.flush()
    session.add(
        Enrollment(
            patient_id=patient.id,
            program_id=program.id,
            level_of_care=LevelOfCare.IOP,
            admitted_on=date.today() - timedelta(days=3),
        )
    )
    session.commit()
    yield patient.id
    session.rollback()
    flags = select(RiskFlag.id).where(RiskFlag.patient_id == patient.id)
    session.execute(delete(RiskFlagEvent).where(RiskFlagEvent.flag_id.in_(flags)))
    session.execute(delete(RiskFlag).where(RiskFlag.patient_id == patient.id))
    session.execute(
        delete(CheckInSubmission).where(CheckInSubmission.patient_id == patient.id)
    )
    session.execute(delete(CheckIn).where(CheckIn.patient_id == patient.id))
    session.execute(delete(RiskSettings).where(RiskSettings.program_id == program.id))
    session.execute(delete(Enrollment).where(Enrollment.patient_id == patient.id))
    session.execute(delete(User).where(User.id == patient.id))
    session.execute(delete(Program).where(Program.id == program.id))
    session.commit()
    session.close()


UNSAFE = {
    "mood": "3",
    "craving": "8",
    "sleep_hours": "4",
    "medication": "no",
    "feels_safe": "no",
}


def _post(app, engine, patient_id: str, form: dict):
    """The check-in form posted through the view's saving step, in its own
    connection and transaction, committed: the answer's page, or the error raised."""
    with app.test_request_context("/check-in", method="POST", data=form):
        db.session.remove()
        session = db.session(bind=engine)
        try:
            patient = session.get(User, patient_id)
            login_user(patient)
            checkin_form = CheckInForm(meta={"csrf": False})
            assert checkin_form.validate(), checkin_form.errors
            page = views._save_checkin(patient, checkin_form)
            session.commit()
            return page
        except Exception as problem:
            session.rollback()
            return problem
        finally:
            db.session.remove()


def _send_at_once(app, engine, patient_id: str, keys: list[str], monkeypatch):
    """Each key posted as an unsafe check-in in its own thread, connection and
    transaction, through the view's saving step: all read their state first, then
    save at the same moment. Returns each answer's page, or the error raised."""
    barrier = threading.Barrier(len(keys))
    read = services.load_checkin_state

    def read_then_wait(*args, **kwargs):
        state = read(*args, **kwargs)
        if not getattr(g, "waited", False):
            g.waited = True
            barrier.wait(timeout=30)
        return state

    monkeypatch.setattr(services, "load_checkin_state", read_then_wait)

    def send(key: str):
        return _post(app, engine, patient_id, UNSAFE | {"idempotency_key": key})

    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        return list(pool.map(send, keys))


def _checkins(patient_id: str):
    return select(func.count()).where(CheckIn.patient_id == patient_id)


def _keys_used(patient_id: str):
    return select(func.count()).where(CheckInSubmission.patient_id == patient_id)


def _saved(pages: list) -> bool:
    return all(isinstance(p, str) and "Thank you" in p for p in pages)


def _scalar(engine, query):
    with Session(bind=engine) as session:
        return session.scalar(query)


def test_a_checkin_resent_while_it_is_being_saved_is_stored_and_told_once(
    app, race_engine, patient_id, monkeypatch
):
    key = str(uuid.uuid4())
    pages = _send_at_once(app, race_engine, patient_id, [key] * SENDERS, monkeypatch)
    assert _saved(pages), [p for p in pages if not isinstance(p, str)]
    assert all("crisis-panel is-shown" in page for page in pages)
    assert _scalar(race_engine, _checkins(patient_id)) == 1
    assert _scalar(race_engine, _keys_used(patient_id)) == 1
    flag = select(RiskFlag.positives).where(RiskFlag.patient_id == patient_id)
    assert _scalar(race_engine, flag) == 1
    audited = select(func.count()).where(
        AuditEvent.patient_id == patient_id, AuditEvent.data_kind == "checkin"
    )
    assert _scalar(race_engine, audited) == 1


def test_risk_answers_sent_at_once_open_one_flag_that_counts_them_all(
    app, race_engine, patient_id, monkeypatch
):
    keys = [str(uuid.uuid4()) for _ in range(SENDERS)]
    pages = _send_at_once(app, race_engine, patient_id, keys, monkeypatch)
    assert _saved(pages), [p for p in pages if not isinstance(p, str)]
    assert _scalar(race_engine, _checkins(patient_id)) == 1
    assert _scalar(race_engine, _keys_used(patient_id)) == SENDERS
    flags = select(func.count(), func.sum(RiskFlag.positives)).where(
        RiskFlag.patient_id == patient_id
    )
    with Session(bind=race_engine) as session:
        assert tuple(session.execute(flags).one()) == (1, SENDERS)


def test_a_late_resend_that_read_before_its_key_was_stored_leaves_the_edit(
    app, race_engine, patient_id, monkeypatch
):
    first = UNSAFE | {"idempotency_key": str(uuid.uuid4())}
    assert "Thank you" in _post(app, race_engine, patient_id, first)
    edit = UNSAFE | {"mood": "7", "feels_safe": "yes"}
    assert "Thank you" in _post(
        app, race_engine, patient_id, edit | {"idempotency_key": str(uuid.uuid4())}
    )
    # The resend read its state before the first sending was stored (its key looked
    # new), and writes only now: the key is used, so it is answered as a resend.
    read, reads = services.load_checkin_state, []

    def read_as_before_the_first_sending(*args, **kwargs):
        state = read(*args, **kwargs)
        reads.append(state.stored)
        return dataclasses.replace(state, stored=None) if len(reads) == 1 else state

    monkeypatch.setattr(
        services, "load_checkin_state", read_as_before_the_first_sending
    )
    page = _post(app, race_engine, patient_id, first)
    assert isinstance(page, str) and "crisis-panel is-shown" in page, page
    assert len(reads) == 2 and reads[1] is not None  # read again after the conflict
    answers = select(CheckIn.mood, CheckIn.feels_safe).where(
        CheckIn.patient_id == patient_id
    )
    with Session(bind=race_engine) as session:
        assert tuple(session.execute(answers).one()) == (7, True)
    assert _scalar(race_engine, _keys_used(patient_id)) == 2
    flag = select(RiskFlag.positives).where(RiskFlag.patient_id == patient_id)
    assert _scalar(race_engine, flag) == 1
    audited = select(AuditEvent.action).where(
        AuditEvent.patient_id == patient_id, AuditEvent.data_kind == "checkin"
    )
    with Session(bind=race_engine) as session:
        assert sorted(session.scalars(audited)) == ["create", "update"]
