"""With the database gone, crisis help still shows: /crisis, the offline page and the
error pages render from memory, a signed-in patient's cookie leads to a 503 with
crisis help (never a bare "Internal Server Error"), and /readyz says 503.

The app under test has an engine whose database cannot be reached (a closed port for
PostgreSQL, a folder that does not exist for SQLite): the driver really fails."""

from __future__ import annotations

import os
import secrets

import pytest

from portal import create_app, db
from portal.blueprints.checkins.sending import sending_token
from portal.blueprints.programs.on_call import on_call_numbers
from tests import factories as f
from tests.conftest import sign_in
from tests.functional.checkins.test_checkins import checkin_data

CRISIS_WORDS = ("tel:911", "tel:988", "sms:988", "988lifeline.org/chat")


def _unreachable_url() -> str:
    if os.environ.get("PORTAL_TEST_DATABASE_URL", "").startswith("postgresql"):
        return "postgresql://postgres@127.0.0.1:1/gone?connect_timeout=2"
    return "sqlite:////no-such-folder-for-portal/gone.db"


@pytest.fixture(scope="module")
def down_app():
    engine = db.make_engine(_unreachable_url())
    app = create_app(
        {
            "TESTING": True,
            "ENGINE": engine,
            "ARGON2_PROFILE": "test",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ON_CALL_PHONE": "+1-555-010-0142",
        }
    )
    yield app
    engine.dispose()


class DownClient:
    """A client of the app whose database is gone. `db.session` is one for the process
    (each test binds it to its own transaction), so each request binds it to the dead
    engine and then back to the test's connection."""

    def __init__(self, app, connection):
        self.app, self.connection = app, connection
        self.client = app.test_client()

    def _request(self, method: str, *args, **kwargs):
        db.session.remove()
        db.session.configure(bind=self.app.extensions["engine"])
        try:
            return getattr(self.client, method)(*args, **kwargs)
        finally:
            db.session.remove()
            db.session.configure(bind=self.connection)

    def get(self, *args, **kwargs):
        return self._request("get", *args, **kwargs)

    def post(self, *args, **kwargs):
        return self._request("post", *args, **kwargs)

    def set_cookie(self, *args, **kwargs):
        self.client.set_cookie(*args, **kwargs)


@pytest.fixture
def down_client(down_app, transaction):
    return DownClient(down_app, transaction)


def _with_cookie_of(client, down_client):
    cookie = client.get_cookie("portal_session")
    assert cookie is not None
    down_client.set_cookie("portal_session", cookie.value)


def _assert_crisis_help(html: str) -> None:
    for words in CRISIS_WORDS:
        assert words in html
    assert "tel:+1-555-010-0142" in html  # the installation's number stands in


def test_crisis_and_offline_pages_render_with_the_database_down(down_client):
    for path in ("/crisis", "/offline"):
        response = down_client.get(path)
        assert response.status_code == 200, path
        _assert_crisis_help(response.get_data(as_text=True))


def test_a_signed_in_patient_gets_crisis_help_not_a_bare_error(
    client, down_client, world
):
    sign_in(client, world.patient)
    _with_cookie_of(client, down_client)
    crisis = down_client.get("/crisis")
    assert crisis.status_code == 200
    _assert_crisis_help(crisis.get_data(as_text=True))
    for path in ("/", "/check-in", "/messages"):
        page = down_client.get(path)
        assert page.status_code == 503, path
        assert page.headers["Retry-After"] == "30"
        html = page.get_data(as_text=True)
        assert "We cannot reach your records right now" in html
        _assert_crisis_help(html)


def test_a_check_in_posted_while_the_database_is_down_is_answered_503(
    client, down_client, world
):
    sign_in(client, world.patient)
    _with_cookie_of(client, down_client)
    response = down_client.post("/check-in", data={"feels_safe": "no"})
    assert response.status_code == 503  # the phone keeps it and sends it later
    _assert_crisis_help(response.get_data(as_text=True))


def test_a_queued_sending_while_the_database_is_down_is_kept_for_later(
    down_app, down_client, world
):
    """The service worker's resend names its patient by token; with the database gone
    that patient cannot be read, and the answer must be a 503 (the phone keeps the
    sending), never a 404 (the phone would drop it) nor a bare error."""
    key = "a" * 32
    with down_app.test_request_context():
        sender = sending_token(world.patient.id, key)
    sending = checkin_data(feels_safe="no", idempotency_key=key, sender=sender)
    response = down_client.post("/queued/check-in", data=sending)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    _assert_crisis_help(response.get_data(as_text=True))


def test_an_unknown_page_and_sign_in_answer_without_the_database(down_client):
    assert down_client.get("/no-such-page").status_code == 404
    failed = down_client.post(
        "/sign-in", data={"email": "a@example.test", "password": "x"}
    )
    assert failed.status_code in (400, 503)  # no session, so CSRF refuses first
    _assert_crisis_help(failed.get_data(as_text=True))


def test_readiness_says_503_when_the_database_is_down_and_200_when_up(
    down_client, client
):
    assert down_client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_data(as_text=True) == "ready"


def test_crisis_page_lists_the_programs_on_call_numbers_from_memory(
    app, client, world, query_counter
):
    assert on_call_numbers(app).refresh(db.session)  # in the test's transaction
    query_counter["n"] = 0
    html = client.get("/crisis").get_data(as_text=True)
    assert f"tel:{world.program.on_call_phone}" in html
    assert "Harbor Program" in html
    assert query_counter["n"] <= 1  # the session look-up at most, never the programs


def test_a_signed_in_patients_crisis_page_shows_their_plan_with_tap_to_call(
    app, client, world
):
    f.SafetyPlanFactory(
        patient_id=world.patient.id,
        sections={"help_people": "My sister Ana 555-201-7788", "reasons": "My kids"},
    )
    on_call_numbers(app).refresh(db.session)
    sign_in(client, world.patient)
    html = client.get("/crisis").get_data(as_text=True)
    assert 'href="tel:5552017788"' in html and "My kids" in html
    assert f'href="tel:{world.program.on_call_phone}"' in html
    assert "Other Program" not in html  # their own line, not every program's


def test_with_the_database_down_the_phones_language_still_speaks(
    client, down_client, world
):
    """The account cannot be read: the `lang` cookie (or the browser) decides, and the
    crisis help is in that language."""
    world.patient.preferred_language = "es"
    sign_in(client, world.patient)
    _with_cookie_of(client, down_client)
    down_client.set_cookie("lang", "es")
    page = down_client.get("/check-in")
    assert page.status_code == 503
    html = page.get_data(as_text=True)
    assert "No podemos ver sus registros ahora" in html
    assert "Llame al 988 y marque 2 para español" in html
    assert 'href="sms:988?body=AYUDA"' in html
    _assert_crisis_help(html)


def test_with_the_database_down_the_browsers_language_speaks(down_client):
    offline = down_client.get("/offline", headers={"Accept-Language": "es"})
    html = offline.get_data(as_text=True)
    assert "No podemos comunicarnos con el programa ahora" in html
    assert "Llame al 988 y marque 2 para español" in html
    _assert_crisis_help(html)
