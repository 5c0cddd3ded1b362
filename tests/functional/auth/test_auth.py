"""Signing in: same answers whether or not an account exists, throttling, second factor,
server-side sessions that rotate, end and time out, and enrollment codes."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.auth.models import EnrollmentCode, User, WebSession
from portal.blueprints.auth.services import code_digest
from portal.db import utcnow
from portal.security import Role
from tests import factories as f
from tests.conftest import csrf_from, post_form, sign_in

COOKIE = "portal_session"


def _visible_text(html: str) -> str:
    html = re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", html)
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "", html)
    return re.sub(r'value="[^"]*"', "", html)


def _try_sign_in(client, email, password="wrong password!"):  # noqa: S107 - a test
    return post_form(client, "/sign-in", {"email": email, "password": password})


def test_wrong_password_and_unknown_email_get_the_same_answer(client, world, app):
    known = _try_sign_in(client, world.patient.email)
    unknown = _try_sign_in(app.test_client(), "nobody-here@example.test")
    assert known.status_code == unknown.status_code == 200
    assert _visible_text(known.get_data(as_text=True)) == _visible_text(
        unknown.get_data(as_text=True)
    )
    assert "did not work" in known.get_data(as_text=True)


def test_patient_signs_in_and_lands_on_today(client, world):
    response = sign_in(client, world.patient)
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_sixth_try_on_one_account_is_refused_even_with_the_right_password(
    client, world
):
    for _ in range(5):
        _try_sign_in(client, world.patient.email)
    response = _try_sign_in(client, world.patient.email, f.PASSWORD)
    assert response.status_code == 429
    assert "Too many tries" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still signed out


def test_unknown_accounts_are_throttled_the_same_way(client, world):
    for _ in range(5):
        _try_sign_in(client, "ghost@example.test")
    assert _try_sign_in(client, "ghost@example.test").status_code == 429


def test_staff_must_pass_the_second_factor_before_any_page(client, world):
    therapist = world.staff[Role.THERAPIST]
    response = _try_sign_in(client, therapist.email, f.PASSWORD)
    assert response.headers["Location"] == "/sign-in/code"
    assert client.get("/staff").status_code == 302
    wrong = post_form(client, "/sign-in/code", {"code": "000000"})
    assert "did not work" in wrong.get_data(as_text=True)
    code = pyotp.TOTP(therapist.totp_secret).now()
    assert post_form(client, "/sign-in/code", {"code": code}).status_code == 302
    assert client.get("/staff").status_code == 200


def test_a_second_factor_code_cannot_be_used_twice(client, app, world):
    therapist = world.staff[Role.THERAPIST]
    code = pyotp.TOTP(therapist.totp_secret).now()
    _try_sign_in(client, therapist.email, f.PASSWORD)
    assert post_form(client, "/sign-in/code", {"code": code}).status_code == 302
    other = app.test_client()
    _try_sign_in(other, therapist.email, f.PASSWORD)
    response = post_form(other, "/sign-in/code", {"code": code})
    assert response.status_code == 200  # refused: that step was already used
    assert "did not work" in response.get_data(as_text=True)


def test_staff_without_a_second_factor_must_set_one_up(client, world):
    nurse = f.UserFactory(role=Role.NURSE, totp_secret=None, totp_enabled=False)
    response = _try_sign_in(client, nurse.email, f.PASSWORD)
    assert client.get(response.headers["Location"]).headers["Location"] == (
        "/sign-in/set-up-code"
    )
    page = client.get("/sign-in/set-up-code").get_data(as_text=True)
    assert "<svg" in page
    code = pyotp.TOTP(db.session.get(User, nurse.id).totp_secret).now()
    done = post_form(client, "/sign-in/set-up-code", {"code": code})
    assert done.status_code == 302
    assert db.session.get(User, nurse.id).totp_enabled


def test_session_token_rotates_at_sign_in(client, world):
    client.get("/sign-in")
    before = client.get_cookie(COOKIE).value
    sign_in(client, world.patient)
    after = client.get_cookie(COOKIE).value
    assert before != after
    assert (
        db.session.scalar(
            select(WebSession)
            .where(WebSession.user_id.is_(None))
            .where(WebSession.id_hash == before)
        )
        is None
    )


def test_sign_out_needs_post_and_kills_the_session_on_the_server(client, app, world):
    sign_in(client, world.patient)
    token = client.get_cookie(COOKIE).value
    assert client.get("/sign-out").status_code == 405
    page = client.get("/").get_data(as_text=True)
    client.post("/sign-out", data={"csrf_token": csrf_from(page)})
    replay = app.test_client()
    replay.set_cookie(COOKIE, token)
    assert replay.get("/").status_code == 302


def _age_session(client, **fields):
    token = client.get_cookie(COOKIE).value
    from portal.blueprints.auth.sessions import token_hash

    row = db.session.get(WebSession, token_hash(token))
    for name, value in fields.items():
        setattr(row, name, value)
    db.session.commit()


@pytest.mark.parametrize(
    ("role", "minutes", "expired"),
    [
        (Role.PATIENT, 29, False),
        (Role.PATIENT, 31, True),
        (Role.THERAPIST, 14, False),
        (Role.THERAPIST, 16, True),
    ],
)
def test_idle_sessions_time_out(client, login_as, role, minutes, expired):
    login_as(role)
    _age_session(client, last_seen_at=utcnow() - timedelta(minutes=minutes))
    response = client.get("/")
    assert (
        response.status_code == 302 and "sign-in" in response.headers["Location"]
    ) is expired
    if expired:
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "signed out because you were away" in page


def test_sessions_end_after_twelve_hours_whatever_the_activity(client, login_as):
    login_as(Role.PATIENT)
    _age_session(client, created_at=utcnow() - timedelta(hours=12, minutes=1))
    assert client.get("/").status_code == 302


def test_password_change_signs_out_other_devices(client, app, world):
    sign_in(client, world.patient)
    phone = app.test_client()
    sign_in(phone, world.patient)
    response = post_form(
        client,
        "/account",
        {
            "current": f.PASSWORD,
            "password": "a brand new password",
            "confirm": "a brand new password",
        },
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert phone.get("/").status_code == 302


def test_deactivated_accounts_lose_their_sessions(client, app, login_as, world):
    patient_client = app.test_client()
    sign_in(patient_client, world.patient)
    login_as(Role.ADMIN)
    page = client.get("/admin/patients").get_data(as_text=True)
    client.post(
        f"/admin/accounts/{world.patient.id}/deactivate",
        data={"csrf_token": csrf_from(page)},
    )
    assert patient_client.get("/").status_code == 302
    again = _try_sign_in(app.test_client(), world.patient.email, f.PASSWORD)
    assert "did not work" in again.get_data(as_text=True)


def _issue_code(user: User, hours: int = 72) -> str:
    raw = "ABCDE23456"
    db.session.add(
        EnrollmentCode(
            user_id=user.id,
            code_hash=code_digest(raw),
            expires_at=utcnow() + timedelta(hours=hours),
        )
    )
    db.session.flush()
    return "ABCDE-23456"


def _set_password(client, email, code, password="my own new password"):  # noqa: S107
    return post_form(
        client,
        "/set-password",
        {"email": email, "code": code, "password": password, "confirm": password},
    )


def test_enrollment_code_sets_a_password_once(client, app, world):
    newcomer = f.UserFactory(password_hash=None)
    code = _issue_code(newcomer)
    assert _set_password(client, newcomer.email, code).status_code == 302
    assert sign_in(app.test_client(), newcomer, "my own new password")
    reused = _set_password(app.test_client(), newcomer.email, code, "another password!")
    assert "did not work" in reused.get_data(as_text=True)


def test_expired_wrong_and_foreign_codes_all_get_the_same_calm_answer(
    client, app, world
):
    newcomer = f.UserFactory(password_hash=None)
    code = _issue_code(newcomer, hours=-1)
    answers = [
        _set_password(app.test_client(), newcomer.email, code),
        _set_password(app.test_client(), "nobody@example.test", "ZZZZZ-99999"),
        _set_password(app.test_client(), world.patient.email, "ABCDE-23456"),
    ]
    texts = {_visible_text(a.get_data(as_text=True)) for a in answers}
    assert len(texts) == 1
    assert db.session.get(User, newcomer.id).password_hash is None


def test_a_form_without_its_csrf_token_changes_nothing(client, world):
    sign_in(client, world.patient)
    response = client.post(
        "/account",
        data={
            "current": f.PASSWORD,
            "password": "hijacked password",
            "confirm": "hijacked password",
        },
    )
    assert response.status_code == 400
    assert "did not save it" in response.get_data(as_text=True)
    assert client.get("/").status_code == 200  # the old session still works


def test_every_sign_in_event_is_audited(client, world):
    _try_sign_in(client, world.patient.email)
    sign_in(client, world.patient)
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.data_kind == "sign_in")
    ).all()
    assert "sign_in_failed" in actions and "sign_in" in actions


def test_session_cookie_is_httponly_and_lax(client, world):
    sign_in(client, world.patient)
    cookie = client.get_cookie(COOKIE)
    assert cookie.http_only and cookie.same_site == "Lax"


def test_production_cookie_is_secure_and_host_prefixed(engine, monkeypatch):
    from portal import create_app

    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_DATABASE_URL", "sqlite://")
    prod = create_app({"ENGINE": engine, "SECRET_KEY": "s" * 40})
    assert prod.config["SESSION_COOKIE_SECURE"] is True
    assert prod.session_interface.cookie_name(prod) == "__Host-portal"


def test_production_refuses_to_start_without_a_secret(monkeypatch, tmp_path):
    from portal.config import ConfigError, build_config

    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        build_config(tmp_path)


def test_demo_refuses_to_run_in_production(monkeypatch):
    from click.testing import CliRunner

    from portal.cli import main

    monkeypatch.setenv("PORTAL_ENV", "production")
    result = CliRunner().invoke(main, ["demo", "--no-serve"])
    assert result.exit_code == 2
    assert "refuses" in result.output


def test_demo_code_is_shown_only_in_the_demo(client, world):
    therapist = world.staff[Role.THERAPIST]
    _try_sign_in(client, therapist.email, f.PASSWORD)
    assert "Demo only" not in client.get("/sign-in/code").get_data(as_text=True)
