"""No patient data in logs: a real database error with a patient's note and answers in
its statement logs none of them, and every request logs one line of ids."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from portal import db
from portal.blueprints.checkins.models import CheckIn, Medication
from portal.security import Role
from tests.conftest import MARKERS, post_form, program_today

NOTE_MARKER = "NOTEMARKER-8841"
KEY_MARKER = "KEYMARKER-5521-0c9f"  # a valid key: PostgreSQL's DETAIL quotes it


@pytest.fixture
def all_logs(caplog):
    """Every record of every logger, from DEBUG up."""
    caplog.set_level(logging.DEBUG)
    for name in ("portal", "flask", "werkzeug", "sqlalchemy"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _everything_logged(caplog) -> str:
    lines = [caplog.text]
    for record in caplog.records:
        lines += [record.getMessage(), record.exc_text or "", str(record.exc_info)]
    return "\n".join(lines)


def _key_already_on_another_check_in(world) -> None:
    """A check-in of another patient already holds the key the phone will send (a
    state the service does not expect): the INSERT fails on the unique key."""
    db.session.add(
        CheckIn(
            patient_id=world.patient_b.id,
            local_date=program_today() - timedelta(days=3),
            mood=5,
            craving=1,
            sleep_hours=Decimal("7.0"),
            medication=Medication.YES,
            feels_safe=True,
            note=None,
            idempotency_key=KEY_MARKER,
        )
    )
    db.session.flush()


def test_a_database_error_logs_no_note_answer_or_key(
    app, client, login_as, world, all_logs, monkeypatch
):
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # log, answer
    _key_already_on_another_check_in(world)
    login_as(Role.PATIENT)
    data = {
        "mood": "3",
        "craving": "7",
        "sleep_hours": "4.5",
        "medication": "no",
        "feels_safe": "yes",
        "note": f"My brother {NOTE_MARKER} came back",
        "idempotency_key": KEY_MARKER,
    }
    response = post_form(client, "/check-in", data)

    assert response.status_code == 503  # a failed save: crisis help, the phone keeps it
    errors = [r for r in all_logs.records if r.levelno >= logging.ERROR]
    assert errors, "the error was not logged at all"
    assert "IntegrityError" in errors[0].exc_text  # what went wrong is still there
    assert "checkins" in errors[0].exc_text  # which table (SQLite: in the message)
    logged = _everything_logged(all_logs)
    assert NOTE_MARKER not in logged
    assert KEY_MARKER not in logged
    assert "My brother" not in logged


def test_echoed_statements_show_no_bound_values(database_url, tmp_path, all_logs):
    from portal.db import make_engine

    # A connection of its own, made while logging is on (SQLAlchemy decides whether to
    # echo when it connects); on SQLite the test's open transaction locks the file.
    postgres = database_url.startswith("postgresql")
    engine = make_engine(database_url if postgres else f"sqlite:///{tmp_path}/e.db")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT :note AS note"), {"note": NOTE_MARKER})
    finally:
        engine.dispose()
    logged = _everything_logged(all_logs)
    assert "SELECT" in logged  # the statement itself was logged
    assert NOTE_MARKER not in logged


def _request_lines(caplog) -> list[dict]:
    return [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "portal.requests"
    ]


def test_each_request_logs_one_line_of_ids(client, login_as, world, all_logs):
    login_as(Role.PATIENT)
    all_logs.clear()
    request_id = uuid.uuid4().hex
    response = client.get(
        f"/?name={MARKERS['patient']}", headers={"X-Request-Id": request_id}
    )
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == request_id
    lines = _request_lines(all_logs)
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == request_id
    assert (line["method"], line["endpoint"], line["status"]) == (
        "GET",
        "schedule.today",
        200,
    )
    assert line["role"] == "patient" and line["ms"] >= 0
    assert set(line) == {"request_id", "method", "endpoint", "status", "ms", "role"}
    logged = _everything_logged(all_logs)
    assert MARKERS["patient"] not in logged and world.patient.email not in logged


def test_an_unsafe_request_id_is_replaced(client, world, all_logs):
    response = client.get("/sign-in", headers={"X-Request-Id": "Jordan Rivera <x>"})
    given = response.headers["X-Request-Id"]
    assert given != "Jordan Rivera <x>" and len(given) == 32
    assert _request_lines(all_logs)[-1]["request_id"] == given
    assert _request_lines(all_logs)[-1]["role"] is None
    assert "Jordan" not in _everything_logged(all_logs)


def test_a_failed_request_logs_its_line_once_with_the_final_status(
    app, client, login_as, world, all_logs, monkeypatch
):
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    _key_already_on_another_check_in(world)
    login_as(Role.PATIENT)
    all_logs.clear()
    post_form(
        client,
        "/check-in",
        {
            "mood": "3",
            "craving": "7",
            "sleep_hours": "4.5",
            "medication": "no",
            "feels_safe": "yes",
            "idempotency_key": KEY_MARKER,
        },
    )
    lines = _request_lines(all_logs)
    assert [(x["endpoint"], x["status"]) for x in lines] == [
        ("checkins.checkin", 200),  # the form's page, read for its CSRF token
        ("checkins.checkin", 503),
    ]
    error = next(r for r in all_logs.records if r.levelno >= logging.ERROR)
    assert error.request_id == lines[1]["request_id"]  # the error names its request


def test_a_note_postgresql_cannot_store_logs_none_of_it(
    app, client, login_as, world, all_logs, monkeypatch
):
    """A NUL byte fails on PostgreSQL (SQLite stores it; a form that cleans control
    characters refuses it first): whatever the answer, the note is not logged."""
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    login_as(Role.PATIENT)
    data = {
        "mood": "3",
        "craving": "7",
        "sleep_hours": "4.5",
        "medication": "no",
        "feels_safe": "yes",
        "note": f"Started {NOTE_MARKER}\x00 again",
        "idempotency_key": str(uuid.uuid4()),
    }
    post_form(client, "/check-in", data)
    assert NOTE_MARKER not in _everything_logged(all_logs)
