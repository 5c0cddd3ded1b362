"""A patient without email signs in with their mobile number (in any usual spelling,
kept in E.164) and password, and sets a password with a code the same way. Answers,
throttle and statements do not tell whether an account exists, and an email and a
number of the same account share one count of tries."""

from __future__ import annotations

import pytest

from portal import db
from tests import factories as f
from tests.conftest import csrf_from, post_form
from tests.functional.auth.test_auth import _issue_code, _set_password, _visible_text
from tests.functional.auth.test_throttle import (
    ATTACKER,
    ELSEWHERE,
    LIMIT,
    _client,
    _refused,
    _signed_in,
    _try,
)

NUMBER = "+16175550177"


@pytest.fixture
def phone_patient(world):
    world.patient.email, world.patient.phone = None, NUMBER
    db.session.flush()
    return world.patient


@pytest.mark.parametrize(
    "typed", ["(617) 555-0177", "617.555.0177", "+1 617 555 0177", " 6175550177 "]
)
def test_a_patient_without_email_signs_in_with_their_mobile_number(
    app, phone_patient, typed
):
    client = _client(app, ELSEWHERE)
    response = _try(client, typed, f.PASSWORD)
    assert response.status_code == 302
    assert _signed_in(client)


def test_a_wrong_password_by_number_gets_the_same_answer_as_an_unknown_number(
    app, phone_patient
):
    answers = [
        _try(_client(app, ELSEWHERE), NUMBER, "not my password"),
        _try(_client(app, ELSEWHERE), "+1 617 555 0100", "not my password"),
        _try(_client(app, ELSEWHERE), "nobody@example.test", "not my password"),
    ]
    assert {a.status_code for a in answers} == {200}
    texts = {_visible_text(a.get_data(as_text=True)) for a in answers}
    assert len(texts) == 1
    assert "email or phone number and password did not work" in texts.pop()


def test_a_number_that_is_not_a_phone_is_just_a_failed_sign_in(app, phone_patient):
    for typed in ("555", "call me", "+999 1234"):
        response = _try(_client(app, ELSEWHERE), typed, f.PASSWORD)
        assert response.status_code == 200
        assert "did not work" in response.get_data(as_text=True)


def test_a_wrong_password_costs_the_same_statements_for_a_known_or_unknown_number(
    app, phone_patient, query_counter
):
    counts = []
    for number in (NUMBER, "+16175550100"):
        client = _client(app, ATTACKER)
        token = csrf_from(client.get("/sign-in").get_data(as_text=True))
        before = query_counter["n"]
        form = {"csrf_token": token, "email": number, "password": "wrong one!"}
        assert client.post("/sign-in", data=form).status_code == 200
        counts.append(query_counter["n"] - before)
    assert counts[0] == counts[1]


def test_the_number_is_throttled_per_account_and_client(app, phone_patient):
    attacker = _client(app, ATTACKER)
    for _ in range(LIMIT):
        assert _try(attacker, "(617) 555-0177").status_code == 200
    assert _refused(_try(attacker, NUMBER, f.PASSWORD))
    assert _try(_client(app, ELSEWHERE), NUMBER, f.PASSWORD).status_code == 302


def test_the_email_and_the_number_of_one_account_share_one_count(app, world):
    world.patient.phone = NUMBER
    db.session.flush()
    attacker = _client(app, ATTACKER)
    for n in range(LIMIT):
        name = world.patient.email if n % 2 else "617-555-0177"
        assert _try(attacker, name).status_code == 200
    assert _refused(_try(attacker, world.patient.email, f.PASSWORD))
    assert _refused(_try(attacker, NUMBER, f.PASSWORD))


def test_a_code_sets_the_password_of_a_patient_without_email(app, phone_patient):
    code = _issue_code(phone_patient)
    assert _set_password(app.test_client(), "617 555 0177", code).status_code == 302
    client = _client(app, ELSEWHERE)
    assert _try(client, NUMBER, "my own new password").status_code == 302


def test_a_code_with_another_patients_number_does_not_work(app, world, phone_patient):
    code = _issue_code(world.patient_b)
    world.patient_b.phone = "+16175550188"
    db.session.flush()
    response = _set_password(app.test_client(), NUMBER, code)
    assert "did not work" in response.get_data(as_text=True)
    response = _set_password(app.test_client(), "+16175550188", code)
    assert response.status_code == 302


def test_the_sign_in_page_asks_for_an_email_or_a_mobile_number(client):
    html = client.get("/sign-in").get_data(as_text=True)
    assert "Email or mobile phone number" in html
    assert 'type="email"' not in html  # a phone keyboard user can type a number


def test_the_account_page_checks_the_password_of_a_patient_without_email(
    app, phone_patient
):
    client = _client(app, ELSEWHERE)
    _try(client, NUMBER, f.PASSWORD)
    response = post_form(
        client,
        "/account",
        {
            "current": f.PASSWORD,
            "password": "a new long password",
            "confirm": "a new long password",
        },
    )
    assert response.status_code == 302
