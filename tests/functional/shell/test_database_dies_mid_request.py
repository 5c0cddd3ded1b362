"""The database going away in the middle of a request, after the session (and so the
signed-in user) was read: the answer is still the portal's own page, a 503 with crisis
help that the phone keeps the sending for, never an error that escapes the app (which
gunicorn answers with a bare "Internal Server Error" and no crisis help).

Found by the fault campaign (bench/faults.py) when PostgreSQL was stopped under load.
Here, on a real PostgreSQL database of the test's own: a trigger ends its own server
process mid-statement, and the database takes no new connections, so every later
read in the request fails as it did in the campaign.
"""

from __future__ import annotations

import os
import secrets

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from portal import create_app, db
from portal.demo import DEMO_PASSWORD
from portal.migrate import upgrade
from portal.seed import seed_scale
from tests.conftest import CSRF_RE, POSTGRES_ONLY

pytestmark = POSTGRES_ONLY

PATIENT = "scale-0-0@scale.test"
CRISIS_WORDS = ("tel:911", "tel:988", "sms:988", "988lifeline.org/chat")
KEY_RE = r'name="idempotency_key"[^>]*value="([^"]+)"'


@pytest.fixture(scope="module")
def doomed_url():
    """A database of this module's own, migrated and seeded with one patient."""
    base = db.make_engine(os.environ["PORTAL_TEST_DATABASE_URL"]).url
    name = f"portal_doomed_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    engine = db.make_engine(url)
    with Session(engine) as session:
        seed_scale(session, patients=1, programs=1)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class DoomedClient:
    """A test client of an app on the doomed database, run as in production (errors
    are answered, not raised into the test). `db.session` is one for the process, so
    each request binds it to this app's engine and then back to the test's."""

    def __init__(self, url: str, connection):
        self.url, self.connection = url, connection
        self.engine = db.make_engine(url)
        self.app = create_app(
            {
                "TESTING": True,
                "PROPAGATE_EXCEPTIONS": False,
                "ENGINE": self.engine,
                "ARGON2_PROFILE": "test",
                "SECRET_KEY": secrets.token_urlsafe(32),
                "ON_CALL_PHONE": "+1-555-010-0142",
            }
        )
        self.client = self.app.test_client()

    def request(self, method: str, path: str, **kwargs):
        db.session.remove()
        db.session.configure(bind=self.engine)
        try:
            return getattr(self.client, method)(path, **kwargs)
        finally:
            db.session.remove()
            db.session.configure(bind=self.connection)

    def form(self, path: str) -> str:
        page = self.request("get", path)
        assert page.status_code == 200, page.status_code
        return page.get_data(as_text=True)

    def sign_in(self) -> None:
        token = CSRF_RE.search(self.form("/sign-in")).group(1)
        answer = self.request(
            "post",
            "/sign-in",
            data={"csrf_token": token, "email": PATIENT, "password": DEMO_PASSWORD},
        )
        assert answer.status_code == 302, answer.status_code

    def kill_database_on(self, statement: str) -> None:
        """From now on: the first `statement` (e.g. "INSERT ON checkins") ends its own
        server process, and the database takes no new connections."""
        operation, table = statement.split(" ON ")
        self._admin(
            self.engine.url.database,
            "CREATE OR REPLACE FUNCTION die() RETURNS trigger AS $$ BEGIN "
            "PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; "
            "END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER die BEFORE {operation} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION die()",
        )
        self._connections(allowed=False)

    def revive(self, statement: str) -> None:
        self._connections(allowed=True)
        self._admin(
            self.engine.url.database,
            f"DROP TRIGGER die ON {statement.split(' ON ')[1]}",
        )

    def _connections(self, allowed: bool) -> None:
        name = self.engine.url.database
        self._admin("postgres", f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {allowed}')

    def _admin(self, database: str, *statements: str) -> None:
        admin = create_engine(
            self.engine.url.set(database=database), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
        admin.dispose()


@pytest.fixture
def doomed(doomed_url, transaction):
    client = DoomedClient(doomed_url, transaction)
    made = []

    def kill_on(statement: str) -> DoomedClient:
        client.kill_database_on(statement)
        made.append(statement)
        return client

    client.kill_on = kill_on
    yield client
    for statement in made:
        client.revive(statement)
    client.engine.dispose()


def _assert_kept_with_crisis_help(answer) -> str:
    assert answer.status_code == 503, answer.status_code
    assert answer.headers["Retry-After"] == "30"
    assert answer.headers.get("X-Request-Id")  # the portal's page, logged
    html = answer.get_data(as_text=True)
    for words in CRISIS_WORDS:
        assert words in html
    return html


def test_a_check_in_whose_database_dies_while_saving_is_kept_with_crisis_help(doomed):
    import re

    doomed.sign_in()
    page = doomed.form("/check-in")
    form = {
        "csrf_token": CSRF_RE.search(page).group(1),
        "idempotency_key": re.search(KEY_RE, page).group(1),
        "mood": "3",
        "craving": "8",
        "sleep_hours": "4",
        "medication": "no",
        "feels_safe": "no",
        "note": "",
    }
    doomed.kill_on("INSERT ON checkins")
    answer = doomed.request("post", "/check-in", data=form)
    html = _assert_kept_with_crisis_help(answer)
    assert "You do not have to face this alone" in html  # the risk answer's panel


def test_a_page_whose_database_dies_while_reading_answers_503_with_crisis_help(
    doomed,
):
    doomed.sign_in()
    doomed.kill_on("INSERT ON audit_log")
    _assert_kept_with_crisis_help(doomed.request("get", "/check-in"))
