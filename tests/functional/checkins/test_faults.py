"""A risk answer is never lost: text with control characters is cleaned, not refused,
and when the database fails to save the rest of a sending the flag still opens in a
transaction of its own, with crisis help on the page and a 503 so the phone keeps the
answers to send again."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from portal import db
from portal.blueprints.checkins.models import CheckIn, ScreenerResponse
from portal.blueprints.safety.models import RiskFlag
from portal.security import Role
from tests.conftest import post_form
from tests.functional.checkins.test_checkins import checkin_data

CONTROL = "\x00\x01\x07\x1b\x7f\u202e\u200b"


def _count(model, **where) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return db.session.scalar(query)


@pytest.fixture
def failing_writes():
    """Make inserts into a table fail inside the database, as a full disk or a broken
    table would: a trigger that raises, created in the test's own transaction."""
    made = []

    def fail(table: str) -> None:
        name = f"fail_{table}"
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(
                text(
                    f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'could not extend file' USING ERRCODE = '53100'; "
                    "END $$ LANGUAGE plpgsql"
                )
            )
            db.session.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE INSERT ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {name}()"
                )
            )
        else:
            db.session.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE INSERT ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'could not extend file'); END"
                )
            )
        made.append(name)

    return fail


def test_control_characters_are_removed_and_the_risk_answer_kept(
    client, login_as, world
):
    patient = login_as(Role.PATIENT)
    note = f"bad{CONTROL}night\r\nreally"
    response = post_form(client, "/check-in", checkin_data(feels_safe="no", note=note))
    assert response.status_code == 200
    stored = db.session.scalar(select(CheckIn).where(CheckIn.patient_id == patient.id))
    assert stored.note == "badnight\nreally" and stored.feels_safe is False
    assert _count(RiskFlag, patient_id=patient.id) == 1


def test_control_characters_in_a_message_are_removed(client, login_as, world):
    login_as(Role.PATIENT)
    sent = post_form(client, "/messages", {"body": f"hello{CONTROL} there"})
    assert sent.status_code in (200, 303)
    page = client.get("/messages", follow_redirects=True).get_data(as_text=True)
    assert "hello there" in page


def test_a_risk_checkin_that_cannot_be_saved_still_opens_the_flag(
    client, login_as, world, failing_writes
):
    patient = login_as(Role.PATIENT)
    page = "/check-in"
    client.get(page)
    failing_writes("checkins")
    response = post_form(client, "/check-in", checkin_data(feels_safe="no"), page=page)
    html = response.get_data(as_text=True)
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert "tel:988" in html and "Your care team has been told" in html
    assert _count(CheckIn, patient_id=patient.id) == 0
    assert _count(RiskFlag, patient_id=patient.id) == 1


def test_a_safe_checkin_that_cannot_be_saved_opens_no_flag(
    client, login_as, world, failing_writes
):
    patient = login_as(Role.PATIENT)
    client.get("/check-in")
    failing_writes("checkins")
    response = post_form(client, "/check-in", checkin_data(), page="/check-in")
    assert response.status_code == 503
    assert "Your care team has been told" not in response.get_data(as_text=True)
    assert _count(RiskFlag, patient_id=patient.id) == 0


def test_a_phq9_item_9_answer_that_cannot_be_saved_still_opens_the_flag(
    client, login_as, world, failing_writes
):
    patient = login_as(Role.PATIENT)
    client.get("/questions/a")
    failing_writes("screener_responses")
    answers = {f"q{n}": "0" for n in range(1, 10)} | {"q9": "2", "q10": "0"}
    response = post_form(client, "/questions/a", answers, page="/questions/a")
    assert response.status_code == 503
    assert "tel:988" in response.get_data(as_text=True)
    assert _count(ScreenerResponse, patient_id=patient.id) == 0
    assert _count(RiskFlag, patient_id=patient.id) == 1


def test_a_failing_sending_sent_again_tells_the_team_once(
    client, login_as, world, failing_writes
):
    patient = login_as(Role.PATIENT)
    client.get("/check-in")
    failing_writes("checkins")
    sending = checkin_data(feels_safe="no")
    for _ in range(3):  # the phone keeps it and sends it again while saving fails
        response = post_form(client, "/check-in", sending, page="/check-in")
        assert response.status_code == 503
    flag = db.session.scalar(select(RiskFlag).where(RiskFlag.patient_id == patient.id))
    assert flag is not None and flag.positives == 1
