"""The first sign-in welcome: shown once to a patient after their first sign-in
(home screen with the iPhone steps, notifications, who sees what, the safety plan),
never to staff, and linked from the account page for later."""

from __future__ import annotations

from sqlalchemy import select

from portal import db
from portal.blueprints.auth.models import User
from portal.security import Role
from tests import factories as f
from tests.conftest import post_form, sign_in


def _sign_in_raw(client, user):
    return post_form(
        client, "/sign-in", {"email": user.sign_in_name, "password": f.PASSWORD}
    )


def test_a_patients_first_sign_in_opens_the_welcome_once(app, world):
    world.patient.welcome_seen_at = None
    db.session.flush()
    first = _sign_in_raw(app.test_client(), world.patient)
    assert first.status_code == 302 and first.location.endswith("/welcome")
    second = _sign_in_raw(app.test_client(), world.patient)
    assert second.status_code == 302 and not second.location.endswith("/welcome")
    assert db.session.scalar(
        select(User.welcome_seen_at).where(User.id == world.patient.id)
    )


def test_the_welcome_says_how_to_start(client, world):
    sign_in(client, world.patient)
    html = client.get("/welcome").get_data(as_text=True)
    for words in (
        "Add to Home Screen",  # the iPhone's Safari steps
        "Share",
        "Install app",  # Android
        'href="/notifications/settings"',
        'href="/sharing"',
        'href="/safety-plan"',
        "988",
    ):
        assert words in html, words


def test_the_account_page_opens_the_welcome_again(client, world):
    sign_in(client, world.patient)
    assert 'href="/welcome"' in client.get("/account").get_data(as_text=True)


def test_staff_never_get_the_welcome(app, client, login_as, world):
    world.staff[Role.THERAPIST].welcome_seen_at = None
    db.session.flush()
    login_as(Role.THERAPIST)
    assert client.get("/welcome").status_code in (403, 404)
    assert 'href="/welcome"' not in client.get("/account").get_data(as_text=True)


def test_a_link_followed_to_sign_in_wins_and_the_welcome_waits(app, world):
    world.patient.welcome_seen_at = None
    db.session.flush()
    client = app.test_client()
    client.get("/messages")  # sends to sign-in, remembering where they were going
    response = _sign_in_raw(client, world.patient)
    assert response.location.endswith("/messages")
    assert not db.session.scalar(
        select(User.welcome_seen_at).where(User.id == world.patient.id)
    )
