"""Log records are scrubbed as they are made: ids and numbers stay, free text goes,
exceptions keep their type, frames and names but not the values they quote."""

from __future__ import annotations

import logging
import uuid

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError

from portal.logs import install_log_redaction
from portal.security import Role

MARKER = "Jordan-Rivera-MARKER"


@pytest.fixture
def log(caplog):
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    return logging.getLogger("portal.test")


def test_ids_numbers_and_codes_stay_and_free_text_goes(log, caplog):
    some_id = str(uuid.uuid4())
    log.info("user %s role %s moved %d times in %.1f s", some_id, Role.NURSE, 3, 2.5)
    log.warning("note was %s, reason %s", f"I told {MARKER} everything", "too_large")
    assert f"user {some_id} role nurse moved 3 times in 2.5 s" in caplog.text
    assert "note was [redacted], reason too_large" in caplog.text
    assert MARKER not in caplog.text


def test_arguments_by_name_are_scrubbed_too(log, caplog):
    log.info("%(who)s sent %(n)s", {"who": f"{MARKER} Smith", "n": 2})
    assert "[redacted] sent 2" in caplog.text and MARKER not in caplog.text


def test_a_request_line_keeps_its_path_and_loses_its_query(caplog):
    install_log_redaction()
    caplog.set_level(logging.INFO, logger="werkzeug")
    patient = uuid.uuid4()
    logging.getLogger("werkzeug").info(
        '127.0.0.1 - - [01/Jan/2026 09:00:00] "%s" %s %s',
        f"GET /staff/patients/{patient}/timeline?q={MARKER} HTTP/1.1",
        "200",
        "-",
    )
    assert f'"GET /staff/patients/{patient}/timeline HTTP/1.1" 200 -' in caplog.text
    assert MARKER not in caplog.text


def test_an_exception_keeps_its_type_and_frames_but_not_the_value(log, caplog):
    note = f"{MARKER} 7"
    try:
        int(note)
    except ValueError:
        log.exception("could not read the mood")
    assert "Traceback (most recent call last):" in caplog.text
    assert "in test_an_exception_keeps_its_type_and_frames_but_not_the_value" in (
        caplog.text
    )
    assert "builtins.ValueError: invalid literal for int() with base 10: …" in (
        caplog.text
    )
    assert MARKER not in caplog.text
    assert caplog.records[-1].exc_info is None  # no handler can format it again


def test_postgresql_detail_and_sqlalchemy_parameters_never_reach_a_log(log, caplog):
    detail = (
        'duplicate key value violates unique constraint "uq_checkins_note"\n'
        f"DETAIL:  Key (note)=({MARKER}) already exists."
    )
    driver_error = psycopg.errors.UniqueViolation(detail)
    wrapped = IntegrityError(
        "INSERT INTO checkins (note) VALUES (%(note)s)", {"note": MARKER}, driver_error
    )
    assert MARKER in str(wrapped)  # what SQLAlchemy would print
    try:
        raise wrapped from driver_error
    except IntegrityError as error:
        log.exception("saving failed")
        log.error(error)
        log.error(str(error))
        log.error(str(driver_error))
    assert MARKER not in caplog.text
    assert "sqlalchemy.exc.IntegrityError: (psycopg.errors.UniqueViolation)" in (
        caplog.text
    )
    assert "[SQL: INSERT INTO checkins (note) VALUES (%(note)s)]" in caplog.text
    assert "psycopg.errors.UniqueViolation: duplicate key value violates" in (
        caplog.text
    )
    assert "(23505)" in caplog.text  # the SQLSTATE stays
