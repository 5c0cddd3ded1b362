"""Throttling that cannot be turned against staff: tries are counted per account and
client, so one client's failures stop that client only; one address is stopped over
all accounts far above the account limit; an account failed from many clients slows
only the clients that fail; devices that signed in before keep their own count; the
client's address comes from trusted proxies only. The same throttle guards the second
factor, the current password on /account, enrollment codes and /fhir/token."""

from __future__ import annotations

import base64
import warnings
from datetime import timedelta

import pyotp
import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.exc import SAWarning

from portal import create_app, db
from portal.audit import AuditEvent
from portal.blueprints.auth.models import SignInThrottle, User
from portal.blueprints.auth.tasks import prune_sessions
from portal.blueprints.auth.throttle import ALARM_FACTOR, CLIENT_FACTOR
from portal.db import utcnow
from portal.security import Role
from tests import factories as f
from tests.conftest import csrf_from, post_form, sign_in
from tests.factories.record import make_client
from tests.functional.auth.test_auth import _issue_code, _set_password, _visible_text

LIMIT = 5
ATTACKER = "203.0.113.66"
ELSEWHERE = "198.51.100.20"


def _client(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _try(client, email: str, password: str = "wrong password!", **kwargs):  # noqa: S107 - a test
    return post_form(
        client, "/sign-in", {"email": email, "password": password}, **kwargs
    )


def _fail(client, email: str, times: int = LIMIT, **kwargs) -> None:
    for _ in range(times):
        assert _try(client, email, **kwargs).status_code == 200


def _refused(response) -> bool:
    wait = int(response.headers.get("Retry-After", 0))
    return response.status_code == 429 and 0 < wait <= 900


def _signed_in(client, page: str = "/") -> bool:
    return client.get(page).status_code == 200


def _code_used_once_more(user: User) -> None:
    """A code is good once; tests that sign a person in twice within one 30-second
    step let the second sign-in use it again."""
    db.session.execute(
        update(User).where(User.id == user.id).values(totp_last_step=None)
    )


@pytest.mark.parametrize("who", ["nurse", "patient"])
def test_another_clients_right_password_gets_in_after_five_failures_elsewhere(
    app, world, who
):
    person = world.staff[Role.NURSE] if who == "nurse" else world.patient
    _fail(_client(app, ATTACKER), person.email)
    phone = _client(app, ELSEWHERE)
    sign_in(phone, person)  # password, and the second factor for staff
    assert _signed_in(phone, "/staff" if who == "nurse" else "/")


def test_the_failing_client_gets_429_with_retry_after_even_with_the_right_password(
    app, world
):
    attacker = _client(app, ATTACKER)
    _fail(attacker, world.patient.email)
    response = _try(attacker, world.patient.email, f.PASSWORD)
    assert _refused(response)
    assert "Too many tries. Please wait 15 minutes" in response.get_data(as_text=True)
    assert not _signed_in(attacker)
    audited = select(AuditEvent.action).where(AuditEvent.data_kind == "sign_in")
    assert "sign_in_throttled" in db.session.scalars(audited).all()


def test_a_device_that_signed_in_before_is_not_stopped_by_failures_at_its_address(
    app, world
):
    nurse, shared = world.staff[Role.NURSE], "192.0.2.10"
    phone = _client(app, shared)
    sign_in(phone, nurse)
    phone.delete_cookie("portal_session")  # signed out; the device cookie stays
    _code_used_once_more(nurse)
    attacker = _client(app, shared)
    _fail(attacker, nurse.email)
    for n in range(CLIENT_FACTOR * LIMIT):  # and the address over all accounts too
        _try(attacker, f"guess{n // (LIMIT - 1)}@example.test")
    assert _refused(_try(_client(app, shared), nurse.email, f.PASSWORD))
    sign_in(phone, nurse)
    assert _signed_in(phone, "/staff")


def test_one_address_failing_at_many_accounts_is_stopped_far_above_the_account_limit(
    app, world
):
    attacker = _client(app, ATTACKER)
    token = csrf_from(attacker.get("/sign-in").get_data(as_text=True))
    failures = CLIENT_FACTOR * LIMIT
    for n in range(failures):  # never the account limit at any one account
        form = {"csrf_token": token, "email": f"guess{n // (LIMIT - 1)}@example.test"}
        answer = attacker.post("/sign-in", data=form | {"password": "wrong one!"})
        assert answer.status_code == 200, n
        if n == 2 * LIMIT:  # twice the account limit: that address still signs in
            sign_in(_client(app, ATTACKER), world.patient)
    assert _refused(_try(_client(app, ATTACKER), world.patient.email, f.PASSWORD))
    sign_in(_client(app, ELSEWHERE), world.patient)


def test_failures_at_one_account_from_many_clients_slow_only_the_failing_ones(
    app, world
):
    email = world.patient.email
    addresses = [f"203.0.113.{n}" for n in range(1, 100)]
    for n in range(ALARM_FACTOR * LIMIT):  # each address below the account limit
        _fail(_client(app, addresses[n // (LIMIT - 1)]), email, 1)
    sign_in(_client(app, ELSEWHERE), world.patient)  # no failures: in at once
    assert _refused(_try(_client(app, addresses[0]), email, f.PASSWORD))
    newcomer = _client(app, "192.0.2.77")
    assert _try(newcomer, email).status_code == 200  # one failure now stops it
    assert _refused(_try(newcomer, email, f.PASSWORD))


def test_the_second_factor_is_throttled_for_the_client_that_fails(app, world):
    therapist = world.staff[Role.THERAPIST]
    attacker = _client(app, ATTACKER)
    assert _try(attacker, therapist.email, f.PASSWORD).status_code == 302
    for _ in range(LIMIT):
        wrong = post_form(attacker, "/sign-in/code", {"code": "000000"})
        assert wrong.status_code == 200
    code = pyotp.TOTP(therapist.totp_secret).now()
    assert _refused(post_form(attacker, "/sign-in/code", {"code": code}))
    assert not _signed_in(attacker, "/staff")
    desk = _client(app, ELSEWHERE)
    sign_in(desk, therapist)
    assert _signed_in(desk, "/staff")


def _change_password(client, current: str):
    new = "a brand new password"
    form = {"current": current, "password": new, "confirm": new}
    return post_form(client, "/account", form)


def test_the_current_password_on_the_account_page_is_throttled(app, world):
    stolen = _client(app, ATTACKER)
    sign_in(stolen, world.patient)
    for _ in range(LIMIT):
        wrong = _change_password(stolen, "a wrong guess!")
        assert "not your current password" in wrong.get_data(as_text=True)
    assert _refused(_change_password(stolen, f.PASSWORD))
    sign_in(_client(app, ELSEWHERE), world.patient)  # the password did not change


def test_the_enrollment_code_page_is_throttled(app, world):
    newcomer = f.UserFactory(password_hash=None)
    code = _issue_code(newcomer)
    attacker = _client(app, ATTACKER)
    for n in range(LIMIT):
        wrong = _set_password(attacker, newcomer.email, f"ZZZZZ-2345{n}")
        assert wrong.status_code == 200
    assert _refused(_set_password(attacker, newcomer.email, code))
    assert db.session.get(User, newcomer.id).password_hash is None
    assert _set_password(_client(app, ELSEWHERE), newcomer.email, code).status_code == (
        302
    )


def _token(client, client_id: str, secret: str):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return client.post(
        "/fhir/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )


def test_the_fhir_token_endpoint_is_throttled_per_client_id_and_address(app, world):
    ehr, secret = make_client(world.program)
    attacker = _client(app, ATTACKER)
    for _ in range(LIMIT):
        assert _token(attacker, ehr.client_id, "a guess").status_code == 401
    refused = _token(attacker, ehr.client_id, secret)
    assert _refused(refused)
    assert refused.get_json()["error"] == "slow_down"
    assert _token(_client(app, ELSEWHERE), ehr.client_id, secret).status_code == 200


def test_a_forged_forwarded_address_is_ignored_when_no_proxy_is_trusted(app, world):
    assert app.config["PROXY_HOPS"] == 0
    attacker = _client(app, ATTACKER)
    for n in range(LIMIT):
        forged = {"X-Forwarded-For": f"10.0.0.{n}"}
        _fail(attacker, world.patient.email, 1, headers=forged)
    forged = {"X-Forwarded-For": ELSEWHERE}
    assert _refused(_try(attacker, world.patient.email, f.PASSWORD, headers=forged))


def test_the_address_a_trusted_proxy_saw_is_the_client(transaction, world):
    with warnings.catch_warnings():
        # create_app binds the session to this test's connection, which it already
        # uses; SQLAlchemy warns that the open session is not rebound.
        warnings.simplefilter("ignore", SAWarning)
        proxied = create_app(
            {
                "TESTING": True,
                "ENGINE": transaction,  # rolled back at the end, as every test
                "ARGON2_PROFILE": "test",
                "SECRET_KEY": "k" * 40,
                "PROXY_HOPS": 1,
            }
        )
    proxy = "10.0.0.1"  # every request reaches the app from the proxy

    def through_proxy(forwarded: str):
        client = _client(proxied, proxy)
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded
        return client

    for n in range(LIMIT):  # the forged first entry changes; the proxy's does not
        _fail(through_proxy(f"6.6.6.{n}, {ATTACKER}"), world.patient.email, 1)
    again = through_proxy(f"7.7.7.7, {ATTACKER}")
    assert _refused(_try(again, world.patient.email, f.PASSWORD))
    sign_in(through_proxy(ELSEWHERE), world.patient)
    seen = select(AuditEvent.ip).where(AuditEvent.action == "sign_in")
    assert db.session.scalars(seen).all() == [ELSEWHERE]


def test_a_throttled_unknown_email_gets_the_same_answer_as_a_known_one(app, world):
    known, unknown = _client(app, ATTACKER), _client(app, ELSEWHERE)
    _fail(known, world.patient.email)
    _fail(unknown, "nobody-here@example.test")
    answers = [
        _try(known, world.patient.email, f.PASSWORD),
        _try(unknown, "nobody-here@example.test", f.PASSWORD),
    ]
    assert all(_refused(a) for a in answers)
    waits = [int(a.headers["Retry-After"]) for a in answers]
    assert abs(waits[0] - waits[1]) <= 1
    texts = {_visible_text(a.get_data(as_text=True)) for a in answers}
    assert len(texts) == 1


def test_a_wrong_password_costs_the_same_statements_known_or_unknown(
    app, world, query_counter
):
    counts = []
    for email in (world.patient.email, "nobody-here@example.test"):
        client = _client(app, ATTACKER)
        token = csrf_from(client.get("/sign-in").get_data(as_text=True))
        before = query_counter["n"]
        form = {"csrf_token": token, "email": email, "password": "wrong one!"}
        assert client.post("/sign-in", data=form).status_code == 200
        counts.append(query_counter["n"] - before)
    assert counts[0] == counts[1]


def test_the_device_cookie_names_no_account(app, world):
    phone = _client(app, ELSEWHERE)
    sign_in(phone, world.patient)
    cookie = phone.get_cookie("portal_device")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    signer = URLSafeTimedSerializer(app.secret_key, salt="portal.device")
    held = str(signer.loads(cookie.value))
    assert len(signer.loads(cookie.value)["a"]) == 1
    assert "@" not in held and world.patient.id not in held


def test_the_worker_prunes_old_counts_but_keeps_a_lock_still_running(app):
    now = utcnow()
    day_old = now - timedelta(days=1, minutes=1)
    db.session.add_all(
        [
            SignInThrottle(key="ac:old", failures=3, window_started_at=day_old),
            SignInThrottle(
                key="ac:locked",
                failures=5,
                window_started_at=day_old,
                locked_until=now + timedelta(minutes=5),
            ),
            SignInThrottle(key="ac:new", failures=1, window_started_at=now),
        ]
    )
    db.session.flush()
    prune_sessions(app)
    kept = db.session.scalars(select(SignInThrottle.key)).all()
    assert sorted(kept) == ["ac:locked", "ac:new"]
