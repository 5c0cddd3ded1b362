"""Fixtures: a migrated database (SQLite by default, PostgreSQL when
PORTAL_TEST_DATABASE_URL says so), each test inside a transaction that is rolled back,
CSRF left on, and real sign-ins through the forms."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import date, time, timedelta

import pyotp
import pytest
from sqlalchemy import create_engine, event, text

from portal import create_app, db
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import LevelOfCare, TeamRole
from portal.migrate import upgrade
from portal.security import Role
from tests import factories as f


def program_today(tz: str = "America/New_York") -> date:
    """Today in a program's time zone (the world's programs are in New York): after
    midnight UTC it is still yesterday there, and the portal counts program days."""
    from zoneinfo import ZoneInfo

    from portal.db import utcnow

    return utcnow().astimezone(ZoneInfo(tz)).date()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _make_database_url() -> tuple[str, callable]:
    """A fresh database for this run; returns its URL and a function that removes it."""
    base = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if not base:
        folder = tempfile.mkdtemp(prefix="portal-test-")
        return f"sqlite:///{folder}/test.db", lambda: None
    name = f"portal_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(db.make_engine(base).url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = db.make_engine(base).url.set(database=name)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


# Marks of a test module that needs real concurrency on PostgreSQL.
POSTGRES_ONLY = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not os.environ.get("PORTAL_TEST_DATABASE_URL", "").startswith("postgresql"),
        reason="row locking under real concurrency needs PostgreSQL",
    ),
]


@pytest.fixture
def race_engine_for(database_url):
    """An engine with a connection for each of `senders` threads (threads cannot see
    a test's rolled-back transaction, so such tests commit for real)."""
    made = []

    def engine_for(senders: int):
        made.append(db.make_engine(database_url, pool_size=senders + 2, max_overflow=0))
        return made[-1]

    yield engine_for
    for engine in made:
        engine.dispose()


@pytest.fixture(scope="session")
def database_url():
    url, drop = _make_database_url()
    upgrade(url)
    yield url
    drop()


@pytest.fixture(scope="session")
def engine(database_url):
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app(engine):
    return create_app(
        {
            "TESTING": True,
            "ENGINE": engine,
            "ARGON2_PROFILE": "test",
            "SECRET_KEY": secrets.token_urlsafe(32),
        }
    )


@pytest.fixture(autouse=True)
def transaction(engine, app):
    """Run each test in a transaction that is rolled back at the end."""
    connection = engine.connect()
    outer = connection.begin()
    db.session.remove()
    db.session.configure(bind=connection, join_transaction_mode="create_savepoint")
    yield connection
    db.session.remove()
    outer.rollback()
    connection.close()
    db.session.configure(bind=engine, join_transaction_mode="conditional_savepoint")


@pytest.fixture
def app_ctx(app):
    """An application context for tests that call services directly (not around
    requests: a request reuses a pushed context, and with it `g`)."""
    with app.app_context():
        yield


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def query_counter(engine):
    """Count SQL statements sent to the database while the test runs."""
    counter = {"n": 0, "statements": []}

    def count(conn, cursor, statement, params, context, executemany):
        if statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN")):
            return  # transaction control (the test's savepoints), not queries
        counter["n"] += 1
        counter["statements"].append(statement)

    event.listen(engine, "before_cursor_execute", count)
    yield counter
    event.remove(engine, "before_cursor_execute", count)


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def post_form(client, url: str, data: dict, page: str | None = None, **kwargs):
    """Post a form the way a browser does: read its CSRF token from the page first."""
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_from(html), **data}, **kwargs)


def sign_in(client, user: User, password: str = f.PASSWORD):
    response = post_form(
        client, "/sign-in", {"email": user.sign_in_name, "password": password}
    )
    if user.role.is_staff and response.status_code == 302:
        code = pyotp.TOTP(user.totp_secret).now()
        response = post_form(client, "/sign-in/code", {"code": code})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


@dataclass
class World:
    program: object
    other_program: object
    track: object
    iop_track: object
    patient: User
    patient_b: User
    patient_c: User
    staff: dict
    other_therapist: User
    director: User
    admin: User
    other_admin: User
    group: object
    appointment: object
    appointment_b: object


MARKERS = {
    "patient": "ALPHA-MARKER-4471",
    "patient_b": "BRAVO-MARKER-9902",
    "patient_c": "CHARLIE-MARKER-3310",
}


@pytest.fixture
def world(transaction) -> World:
    """Two programs; patient A with a full care team, B with another therapist only,
    C in another program; one group session every weekday, appointments for A and B."""
    program = f.ProgramFactory(name="Harbor Program")
    other_program = f.ProgramFactory(name="Other Program")
    track = f.TrackFactory(
        program=program, name="PHP Days", level_of_care=LevelOfCare.PHP
    )
    iop = f.TrackFactory(
        program=program, name="IOP Mornings", level_of_care=LevelOfCare.IOP
    )
    other_track = f.TrackFactory(program=other_program, name="Elsewhere")

    def staff_member(role, prog=program, name=None):
        user = f.UserFactory(
            staff=True, role=role, display_name=name or f"{role.value} one"
        )
        f.StaffMembershipFactory(user_id=user.id, program_id=prog.id)
        return user

    staff = {role: staff_member(role) for role in f.TEAM_ROLE_OF}
    other_therapist = staff_member(Role.THERAPIST, name="Second Therapist")
    director = staff_member(Role.DIRECTOR, name="Director One")
    admin = staff_member(Role.ADMIN, name="Admin One")
    other_admin = staff_member(Role.ADMIN, other_program, name="Admin Elsewhere")
    staff_member(Role.THERAPIST, other_program, name="Therapist Elsewhere")

    def patient(key, prog, trk, team):
        user = f.UserFactory(display_name=MARKERS[key], email=f"{key}@example.test")
        f.EnrollmentFactory(
            patient_id=user.id,
            program_id=prog.id,
            track_id=trk.id,
            level_of_care=trk.level_of_care,
            admitted_on=date.today() - timedelta(days=60),
        )
        for member in team:
            f.CareTeamFactory(
                patient_id=user.id,
                staff_id=member.id,
                team_role=f.TEAM_ROLE_OF[member.role],
            )
        return user

    a = patient("patient", program, track, staff.values())
    b = patient("patient_b", program, track, [other_therapist])
    c = patient("patient_c", other_program, other_track, [])
    groups = [
        f.GroupSessionFactory(
            track_id=track.id,
            weekday=d,
            title="Coping skills",
            facilitator_id=staff[Role.THERAPIST].id,
            starts_at=time(9),
            ends_at=time(10),
        )
        for d in range(7)
    ]
    f.GroupSessionFactory(track_id=other_track.id, weekday=0, title="Elsewhere group")
    appt = f.AppointmentFactory(patient_id=a.id, staff_id=staff[Role.THERAPIST].id)
    appt_b = f.AppointmentFactory(
        patient_id=b.id, staff_id=other_therapist.id, room="BRAVO-ROOM-5150"
    )
    return World(
        program,
        other_program,
        track,
        iop,
        a,
        b,
        c,
        staff,
        other_therapist,
        director,
        admin,
        other_admin,
        groups[0],
        appt,
        appt_b,
    )


@pytest.fixture
def login_as(client, world):
    """Sign the client in as a role of the world (real forms, real second factor)."""

    def login(who: str | Role) -> User:
        user = _pick(world, who)
        sign_in(client, user)
        return user

    return login


def _pick(world: World, who) -> User:
    if isinstance(who, Role):
        if who is Role.PATIENT:
            return world.patient
        if who is Role.DIRECTOR:
            return world.director
        if who is Role.ADMIN:
            return world.admin
        return world.staff[who]
    return getattr(world, who)


__all__ = ["MARKERS", "TeamRole", "World", "csrf_from", "post_form", "sign_in"]
