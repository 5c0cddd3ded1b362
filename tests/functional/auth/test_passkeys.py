"""Passkeys with the webauthn package, checked for real with a software
authenticator: a patient adds one and signs in with it instead of the password;
staff use one as their second factor; challenges are kept on the server, expire and
work once; an assertion for another account, a sign count going back (a cloned
authenticator), an expired or replayed challenge are refused with a plain message
and audited."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal import db
from portal.audit import AuditEvent, Outcome
from portal.blueprints.auth.models import PasskeyChallenge, PasskeyCredential, User
from portal.blueprints.auth.passkey_views import STAFF_FIRST
from portal.blueprints.auth.passkeys import REFUSED
from portal.db import utcnow
from portal.security import Role
from tests import factories as f
from tests.conftest import csrf_from, post_form, sign_in
from tests.factories.passkeys import SoftAuthenticator


def _token(client, page: str = "/account") -> str:
    return csrf_from(client.get(page).get_data(as_text=True))


def _post_json(client, url: str, body: str, token: str):
    return client.post(
        url,
        data=body,
        headers={"X-CSRFToken": token, "Content-Type": "application/json"},
    )


def _register(client, authenticator: SoftAuthenticator):
    token = _token(client)
    options = _post_json(client, "/passkeys/register/options", "", token).get_json()
    return _post_json(
        client, "/passkeys/register", authenticator.create(options), token
    )


def _sign_in_by_passkey(client, authenticator, **get_kwargs):
    token = _token(client, "/sign-in")
    options = _post_json(client, "/passkeys/sign-in/options", "", token).get_json()
    assertion = authenticator.get(options, **get_kwargs)
    return _post_json(client, "/passkeys/sign-in", assertion, token), assertion


def _refusals(reason: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.outcome == Outcome.DENIED,
                AuditEvent.detail.contains(reason),
            )
        )
    )


@pytest.fixture
def patient_key(app, world):
    """The patient's phone with a passkey added on the account page."""
    client = app.test_client()
    sign_in(client, world.patient)
    authenticator = SoftAuthenticator()
    response = _register(client, authenticator)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"redirect": "/account"}
    return authenticator


def test_a_patient_adds_a_passkey_and_signs_in_with_it(app, world, patient_key):
    stored = db.session.scalar(
        select(PasskeyCredential).where(PasskeyCredential.user_id == world.patient.id)
    )
    assert stored is not None and stored.sign_count == 0
    client = app.test_client()
    response, _ = _sign_in_by_passkey(client, patient_key)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"redirect": "/"}
    assert client.get("/").status_code == 200  # signed in, no password
    db.session.expire_all()
    assert db.session.get(PasskeyCredential, stored.id).sign_count == 1
    assert db.session.scalar(
        select(AuditEvent.id).where(
            AuditEvent.action == "sign_in_passkey",
            AuditEvent.actor_id == world.patient.id,
        )
    )


def test_the_password_still_works_beside_the_passkey(app, world, patient_key):
    sign_in(app.test_client(), world.patient)


def test_the_account_page_lists_and_removes_passkeys(app, world, patient_key):
    client = app.test_client()
    sign_in(client, world.patient)
    html = client.get("/account").get_data(as_text=True)
    assert "Passkeys" in html and "Added" in html
    stored = db.session.scalar(
        select(PasskeyCredential).where(PasskeyCredential.user_id == world.patient.id)
    )
    response = post_form(client, f"/passkeys/{stored.id}/remove", {}, page="/account")
    assert response.status_code == 303
    assert db.session.get(PasskeyCredential, stored.id) is None
    again, _ = _sign_in_by_passkey(app.test_client(), patient_key)
    assert again.status_code == 400


def test_another_persons_passkey_cannot_be_removed(app, world, patient_key):
    stored = db.session.scalar(
        select(PasskeyCredential).where(PasskeyCredential.user_id == world.patient.id)
    )
    client = app.test_client()
    sign_in(client, world.patient_b)
    response = post_form(client, f"/passkeys/{stored.id}/remove", {}, page="/account")
    assert response.status_code == 404
    assert db.session.get(PasskeyCredential, stored.id) is not None


def test_a_replayed_assertion_is_refused_and_audited(app, world, patient_key):
    first, assertion = _sign_in_by_passkey(app.test_client(), patient_key)
    assert first.status_code == 200
    client = app.test_client()
    token = _token(client, "/sign-in")
    replay = _post_json(client, "/passkeys/sign-in", assertion, token)
    assert replay.status_code == 400
    assert replay.get_json() == {"error": REFUSED}
    assert client.get("/").status_code == 302  # not signed in
    assert _refusals("replayed")


def test_an_expired_challenge_is_refused_and_audited(app, world, patient_key):
    client = app.test_client()
    token = _token(client, "/sign-in")
    options = _post_json(client, "/passkeys/sign-in/options", "", token).get_json()
    db.session.execute(
        update(PasskeyChallenge).values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.flush()
    response = _post_json(client, "/passkeys/sign-in", patient_key.get(options), token)
    assert response.status_code == 400 and response.get_json()["error"] == REFUSED
    assert _refusals("expired")


def test_a_sign_count_going_back_is_refused_as_a_clone(app, world, patient_key):
    for _ in range(3):
        assert _sign_in_by_passkey(app.test_client(), patient_key)[0].status_code == 200
    clone, _ = _sign_in_by_passkey(app.test_client(), patient_key, sign_count=2)
    assert clone.status_code == 400 and clone.get_json()["error"] == REFUSED
    (refusal,) = _refusals("cloned")
    assert refusal.actor_id == world.patient.id
    stored = db.session.scalar(
        select(PasskeyCredential).where(PasskeyCredential.user_id == world.patient.id)
    )
    assert stored.sign_count == 3  # the clone changed nothing


def test_an_unknown_passkey_or_garbage_is_refused(app, world):
    stranger = SoftAuthenticator()
    stranger.user_handle = "c29tZW9uZQ"
    response, _ = _sign_in_by_passkey(app.test_client(), stranger)
    assert response.status_code == 400 and response.get_json()["error"] == REFUSED
    client = app.test_client()
    token = _token(client, "/sign-in")
    for junk in ("", "{}", "not json", json.dumps({"response": {}})):
        answer = _post_json(client, "/passkeys/sign-in", junk, token)
        assert answer.status_code == 400, junk
        assert answer.get_json() == {"error": REFUSED}


def test_a_registration_answer_for_another_accounts_challenge_is_refused(app, world):
    own = app.test_client()
    sign_in(own, world.patient)
    token = _token(own)
    options = _post_json(own, "/passkeys/register/options", "", token).get_json()
    other = app.test_client()
    sign_in(other, world.patient_b)
    answer = _post_json(
        other, "/passkeys/register", SoftAuthenticator().create(options), _token(other)
    )
    assert answer.status_code == 400
    assert not db.session.scalar(select(PasskeyCredential.id))
    assert _refusals("another account")


def test_a_passkey_from_another_site_is_refused(app, world):
    client = app.test_client()
    sign_in(client, world.patient)
    elsewhere = SoftAuthenticator(origin="https://evil.example")
    assert _register(client, elsewhere).status_code == 400
    other_rp = SoftAuthenticator(rp_id="evil.example")
    assert _register(client, other_rp).status_code == 400
    assert not db.session.scalar(select(PasskeyCredential.id))


def _staff_passkey(app, staff) -> SoftAuthenticator:
    client = app.test_client()
    sign_in(client, staff)
    authenticator = SoftAuthenticator()
    assert _register(client, authenticator).status_code == 200
    return authenticator


def _password_step(app, staff):
    client = app.test_client()
    response = post_form(
        client, "/sign-in", {"email": staff.email, "password": f.PASSWORD}
    )
    assert response.location.endswith("/sign-in/code")
    return client


def _second_factor(client, authenticator):
    token = _token(client, "/sign-in/code")
    options = _post_json(
        client, "/passkeys/second-factor/options", "", token
    ).get_json()
    return _post_json(
        client, "/passkeys/second-factor", authenticator.get(options), token
    )


def test_staff_use_a_passkey_as_their_second_factor(app, world):
    nurse = world.staff[Role.NURSE]
    key = _staff_passkey(app, nurse)
    client = _password_step(app, nurse)
    assert client.get("/staff").status_code == 302  # not yet
    html = client.get("/sign-in/code").get_data(as_text=True)
    assert "Use my passkey" in html
    response = _second_factor(client, key)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"redirect": "/staff"}
    assert client.get("/staff").status_code == 200


def test_a_second_factor_with_another_accounts_passkey_is_refused(app, world):
    nurse, therapist = world.staff[Role.NURSE], world.staff[Role.THERAPIST]
    _staff_passkey(app, nurse)
    therapists_key = _staff_passkey(app, therapist)
    client = _password_step(app, nurse)
    response = _second_factor(client, therapists_key)
    assert response.status_code == 400 and response.get_json()["error"] == REFUSED
    assert client.get("/staff").status_code == 302
    assert _refusals("another account")


def test_the_second_factor_passkey_needs_the_password_first(app, world):
    key = _staff_passkey(app, world.staff[Role.NURSE])
    client = app.test_client()
    token = _token(client, "/sign-in")
    answer = _post_json(client, "/passkeys/second-factor/options", "", token)
    assert answer.status_code == 400
    answer = _post_json(
        client, "/passkeys/second-factor", key.get({"challenge": "AA"}), token
    )
    assert answer.status_code == 400


def test_a_staff_passkey_alone_does_not_sign_staff_in(app, world):
    key = _staff_passkey(app, world.staff[Role.NURSE])
    client = app.test_client()
    response, _ = _sign_in_by_passkey(client, key)
    assert response.status_code == 400
    assert response.get_json()["error"] == STAFF_FIRST
    assert client.get("/staff").status_code == 302


def test_a_passkey_of_a_turned_off_account_is_refused(app, world, patient_key):
    db.session.get(User, world.patient.id).is_active = False
    db.session.flush()
    response, _ = _sign_in_by_passkey(app.test_client(), patient_key)
    assert response.status_code == 400


def test_first_passkey_sign_in_opens_the_welcome(app, world, patient_key):
    db.session.get(User, world.patient.id).welcome_seen_at = None
    db.session.flush()
    response, _ = _sign_in_by_passkey(app.test_client(), patient_key)
    assert response.get_json() == {"redirect": "/welcome"}


def _enroll_by_passkey(client, name: str, code: str, authenticator):
    token = _token(client, "/set-password")
    fields = json.dumps({"name": name, "code": code})
    options = _post_json(client, "/passkeys/enroll/options", fields, token)
    if options.status_code != 200:
        return options
    return _post_json(
        client, "/passkeys/enroll", authenticator.create(options.get_json()), token
    )


def test_a_new_patient_makes_a_passkey_with_the_enrollment_code(app, world):
    from tests.functional.auth.test_auth import _issue_code

    newcomer = f.UserFactory(
        password_hash=None, email=None, phone="+16175550177", welcome_seen_at=None
    )
    code = _issue_code(newcomer)
    client = app.test_client()
    key = SoftAuthenticator()
    response = _enroll_by_passkey(client, "617 555 0177", code, key)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"redirect": "/welcome"}
    assert client.get("/").status_code == 200
    # The code is used up, and the passkey signs in from now on.
    again = _enroll_by_passkey(app.test_client(), "617 555 0177", code, key)
    assert again.status_code == 400
    assert _sign_in_by_passkey(app.test_client(), key)[0].status_code == 200


def test_a_wrong_code_for_a_passkey_gets_the_calm_answer(app, world):
    from tests.functional.auth.test_auth import _issue_code

    code = _issue_code(world.patient_b)
    for name, typed in (
        (world.patient.email, code),  # another patient's code
        (world.patient_b.email, "ZZZZZ-99999"),
        ("nobody@example.test", code),
        ("", ""),
    ):
        answer = _enroll_by_passkey(app.test_client(), name, typed, SoftAuthenticator())
        assert answer.status_code == 400, name
        assert "did not work" in answer.get_json()["error"]
    assert not db.session.scalar(select(PasskeyCredential.id))


def test_the_passkey_enrollment_needs_the_options_step_first(app, world):
    client = app.test_client()
    token = _token(client, "/set-password")
    answer = _post_json(
        client,
        "/passkeys/enroll",
        SoftAuthenticator().create({"challenge": "AA", "user": {"id": "AA"}}),
        token,
    )
    assert answer.status_code == 400


def test_sign_in_challenges_are_counted_per_address(app, world, patient_key):
    """Anyone may ask for a sign-in challenge, and each is a stored row: one address
    gets 20 times the per-account limit within the lock time, then waits, and
    nothing more is stored; another address is not stopped by it."""
    allowed = 20 * app.config["MAX_FAILED_SIGN_INS"]
    client = app.test_client()
    token = _token(client, "/sign-in")
    before = len(db.session.scalars(select(PasskeyChallenge.id)).all())
    for _ in range(allowed):
        answer = _post_json(client, "/passkeys/sign-in/options", "", token)
        assert answer.status_code == 200
    refused = _post_json(client, "/passkeys/sign-in/options", "", token)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.get_json()["error"].startswith("Too many tries.")
    assert (
        len(db.session.scalars(select(PasskeyChallenge.id)).all()) == before + allowed
    )
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    response, _ = _sign_in_by_passkey(elsewhere, patient_key)
    assert response.status_code == 200, response.get_data(as_text=True)
