"""The idle "anything new?" checks answered before Flask (portal/blueprints/messages/
poll.py): 304 in one statement when the session may read the thread (or has the inbox)
and the version is the client's, and in every other case the app's own answer."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.auth.models import Role, User, WebSession
from portal.blueprints.messages import access, poll, services
from portal.blueprints.messages.models import MessageThread
from portal.db import utcnow
from tests.conftest import post_form, sign_in
from tests.functional.messages_fixtures import add_message, thread_id_for

SECURITY_HEADERS = (
    "ETag",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "X-Frame-Options",
    "Permissions-Policy",
    "Vary",
    "Cache-Control",
)


@pytest.fixture
def browsers(app):
    """A signed-in browser per person, made once per test."""
    made: dict[str, object] = {}

    def browser(user: User):
        if user.id not in made:
            made[user.id] = app.test_client()
            sign_in(made[user.id], user)
        return made[user.id]

    return browser


def _version_tag(user: User, thread_id: str) -> str:
    """The ETag this person's poll of the thread would carry, read straight from the
    tables (whether or not they may read it)."""
    last_seq, others = db.session.execute(
        select(MessageThread.last_seq, services.others_read_total()).where(
            MessageThread.id == thread_id
        ),
        {"actor_id": user.id},
    ).one()
    return f'"{services.make_etag(last_seq, others or 0)}"'


def _poll(client, thread_id: str, tag: str):
    return client.get(
        f"/messages/{thread_id}/updates?after=1", headers={"If-None-Match": tag}
    )


def _statements_of(counter, request) -> tuple[object, list[str]]:
    counter["n"], counter["statements"] = 0, []
    response = request()
    return response, list(counter["statements"])


def _session_row(user: User) -> WebSession:
    return db.session.scalar(select(WebSession).where(WebSession.user_id == user.id))


def _audit_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def _consent(client, staff: User) -> None:
    post_form(client, "/messages/sharing", {"share": staff.id})


# ---- 304 in one statement ------------------------------------------------------------


@pytest.mark.parametrize("who", ["patient", "peer", "consented therapist"])
def test_unchanged_thread_answers_304_in_one_statement(
    who, world, browsers, query_counter
):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    patient = browsers(world.patient)
    reader = {
        "patient": world.patient,
        "peer": world.staff[Role.PEER],
        "consented therapist": world.staff[Role.THERAPIST],
    }[who]
    if who == "consented therapist":
        _consent(patient, reader)
    client, tag = browsers(reader), _version_tag(reader, thread_id)
    before = _audit_rows()

    response, statements = _statements_of(
        query_counter, lambda: _poll(client, thread_id, tag)
    )

    assert response.status_code == 304 and response.data == b""
    assert response.headers["ETag"] == tag
    assert len(statements) == 1, statements
    assert "web_sessions" in statements[0] and "message_threads" in statements[0]
    assert _audit_rows() == before  # a 304 shows nothing


def test_the_shortcut_sends_the_headers_of_the_apps_own_304(
    world, browsers, monkeypatch, query_counter
):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client, tag = browsers(world.patient), _version_tag(world.patient, thread_id)
    shortcut, short_statements = _statements_of(
        query_counter, lambda: _poll(client, thread_id, tag)
    )
    monkeypatch.setattr(
        poll.UnchangedPollShortcut, "unchanged_etag", lambda _self, _environ: None
    )
    flask, flask_statements = _statements_of(
        query_counter, lambda: _poll(client, thread_id, tag)
    )

    assert shortcut.status_code == flask.status_code == 304
    assert (len(short_statements), len(flask_statements)) == (1, 2)
    for name in SECURITY_HEADERS:
        assert shortcut.headers.get(name) == flask.headers.get(name), name
    assert sorted(shortcut.headers.keys()) == sorted(flask.headers.keys())
    assert "no-store" in shortcut.headers["Cache-Control"]


def test_a_changed_thread_goes_to_the_app_and_sends_the_new_messages(
    world, browsers, query_counter
):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client, tag = browsers(world.patient), _version_tag(world.patient, thread_id)
    assert _poll(client, thread_id, tag).status_code == 304

    thread = db.session.get(MessageThread, thread_id)
    add_message(thread, world.staff[Role.PEER], "NEW-REPLY-4411")
    response, statements = _statements_of(
        query_counter, lambda: _poll(client, thread_id, tag)
    )

    assert response.status_code == 200
    assert "NEW-REPLY-4411" in response.get_data(as_text=True)
    assert response.headers["ETag"] == _version_tag(world.patient, thread_id)
    assert len(statements) > 2  # the shortcut's look, then the app's whole answer


def test_a_poll_answered_304_does_not_move_last_seen(world, browsers):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client, tag = browsers(world.patient), _version_tag(world.patient, thread_id)
    stale = utcnow() - timedelta(minutes=5)
    _session_row(world.patient).last_seen_at = stale
    db.session.flush()

    assert _poll(client, thread_id, tag).status_code == 304

    db.session.expire_all()
    assert _session_row(world.patient).last_seen_at == stale


def test_a_database_error_goes_to_the_app(world, browsers, monkeypatch, query_counter):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client, tag = browsers(world.patient), _version_tag(world.patient, thread_id)
    monkeypatch.setattr(
        poll, "unchanged_thread_statement", lambda _role: text("SELECT * FROM no_such")
    )

    response, statements = _statements_of(
        query_counter, lambda: _poll(client, thread_id, tag)
    )

    assert response.status_code == 304  # from the app, which checks the same thing
    assert "no_such" in statements[0]
    queries = [s for s in statements if s.startswith("SELECT")]
    assert len(queries) == 3, statements  # the failed look, then the app's two


@pytest.mark.parametrize("who", ["patient", "peer", "consented therapist"])
def test_later_checks_run_the_statement_of_the_sessions_role_alone(
    who, world, app, browsers, query_counter
):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    reader = {
        "patient": world.patient,
        "peer": world.staff[Role.PEER],
        "consented therapist": world.staff[Role.THERAPIST],
    }[who]
    if who == "consented therapist":
        _consent(browsers(world.patient), reader)
    client, tag = browsers(reader), _version_tag(reader, thread_id)

    first, first_sql = _statements_of(
        query_counter, lambda: _poll(client, thread_id, tag)
    )
    later, later_sql = _statements_of(
        query_counter, lambda: _poll(client, thread_id, tag)
    )

    assert first.status_code == later.status_code == 304
    assert first_sql == [_sql(app, None)]  # every reader role's rule
    assert later_sql == [_sql(app, reader.role)]  # this role's rule alone


def test_a_changed_role_goes_to_the_app_and_is_learned_again(
    world, app, browsers, query_counter
):
    peer = world.staff[Role.PEER]
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client, tag = browsers(peer), _version_tag(peer, thread_id)
    assert _poll(client, thread_id, tag).status_code == 304  # learns: a peer
    db.session.execute(
        update(User).where(User.id == peer.id).values(role=Role.CASE_MANAGER)
    )

    changed, changed_sql = _statements_of(
        query_counter, lambda: _poll(client, thread_id, tag)
    )
    again, again_sql = _statements_of(
        query_counter, lambda: _poll(client, thread_id, tag)
    )

    assert changed.status_code == again.status_code == 404  # no consent: not theirs
    assert changed_sql[0] == _sql(app, Role.PEER)
    assert again_sql[0] == _sql(app, None)


def test_session_roles_forget_the_oldest_beyond_their_limit():
    roles = poll.SessionRoles(limit=2)
    roles.remember("a", Role.PATIENT)
    roles.remember("b", Role.PEER)
    roles.remember("a", Role.PATIENT)  # known: nothing forgotten
    roles.remember("c", Role.NURSE)
    assert (roles.get("a"), roles.get("b"), roles.get("c")) == (
        None,
        Role.PEER,
        Role.NURSE,
    )
    roles.forget("b")
    assert roles.get("b") is None
    nothing = poll.SessionRoles(limit=0)
    nothing.remember("a", Role.PATIENT)
    assert nothing.get("a") is None


def _sql(app, role: Role | None) -> str:
    dialect = app.extensions["engine"].dialect
    return str(poll.unchanged_thread_statement(role).compile(dialect=dialect))


# ---- everything else is the app's answer ---------------------------------------------


@pytest.mark.parametrize("learned", [False, True], ids=["first check", "role known"])
def test_another_patients_thread_is_the_apps_404(learned, world, browsers):
    thread_id = thread_id_for(world.patient_b, world.patient_b, "not yours")
    client = browsers(world.patient)
    if learned:
        _learn_role(client, world.patient)
    response = _poll(client, thread_id, _version_tag(world.patient, thread_id))
    assert response.status_code == 404


@pytest.mark.parametrize("learned", [False, True], ids=["first check", "role known"])
def test_an_unknown_thread_is_the_apps_404(learned, world, browsers):
    client = browsers(world.patient)
    if learned:
        _learn_role(client, world.patient)
    unknown = "0b7c6a7e-4f0e-4d53-9d55-8d2f0c1e2a3b"
    assert _poll(client, unknown, '"0.0"').status_code == 404
    assert _poll(client, unknown, "*").status_code == 404


def _learn_role(client, patient: User) -> None:
    """One check of the patient's own thread: the shortcut learns the role."""
    own = thread_id_for(patient, patient, "my own")
    assert _poll(client, own, _version_tag(patient, own)).status_code == 304


def test_no_cookie_is_sent_to_sign_in(world, app):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    response = _poll(app.test_client(), thread_id, "*")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


@pytest.mark.parametrize(
    ("column", "config_key"),
    [("last_seen_at", "IDLE_TIMEOUT_PATIENT"), ("created_at", "ABSOLUTE_TIMEOUT")],
)
def test_an_expired_session_is_ended_by_the_app(
    column, config_key, world, app, browsers
):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client, tag = browsers(world.patient), _version_tag(world.patient, thread_id)
    assert _poll(client, thread_id, tag).status_code == 304
    past = utcnow() - timedelta(seconds=app.config[config_key] + 5)
    setattr(_session_row(world.patient), column, past)
    db.session.flush()

    response = _poll(client, thread_id, tag)

    assert response.status_code == 302 and "away=1" in response.headers["Location"]
    assert _session_row(world.patient) is None  # the app deleted it


def test_a_deactivated_user_is_signed_out_by_the_app(world, browsers):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client, tag = browsers(world.patient), _version_tag(world.patient, thread_id)
    assert _poll(client, thread_id, tag).status_code == 304
    db.session.execute(
        update(User).where(User.id == world.patient.id).values(is_active=False)
    )

    response = _poll(client, thread_id, tag)

    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_staff_without_the_second_factor_are_sent_to_sign_in(world, browsers):
    peer = world.staff[Role.PEER]
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client, tag = browsers(peer), _version_tag(peer, thread_id)
    assert _poll(client, thread_id, tag).status_code == 304
    _session_row(peer).mfa_passed = False
    db.session.flush()

    response = _poll(client, thread_id, tag)

    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_an_admin_is_the_apps_404(world, browsers):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client = browsers(world.admin)
    tag = _version_tag(world.admin, thread_id)
    assert _poll(client, thread_id, tag).status_code == 404
    assert _poll(client, thread_id, "*").status_code == 404


def test_withdrawn_consent_is_the_apps_404(world, browsers):
    therapist = world.staff[Role.THERAPIST]
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    patient = browsers(world.patient)
    _consent(patient, therapist)
    client, tag = browsers(therapist), _version_tag(therapist, thread_id)
    assert _poll(client, thread_id, tag).status_code == 304

    post_form(patient, "/messages/sharing", {})

    assert _poll(client, thread_id, tag).status_code == 404


def test_a_peer_outside_the_patients_care_is_the_apps_404(world, browsers):
    from tests import factories as f

    other_peer = f.UserFactory(staff=True, role=Role.PEER, display_name="Peer Two")
    f.StaffMembershipFactory(user_id=other_peer.id, program_id=world.program.id)
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client = browsers(other_peer)
    response = _poll(client, thread_id, _version_tag(other_peer, thread_id))
    assert response.status_code == 404  # A's own peer is present: not this one's


def test_a_peer_of_another_program_is_the_apps_404(world, browsers):
    from tests import factories as f

    elsewhere = f.UserFactory(staff=True, role=Role.PEER, display_name="Peer Far")
    f.StaffMembershipFactory(user_id=elsewhere.id, program_id=world.other_program.id)
    peer = world.staff[Role.PEER]
    thread_id = thread_id_for(world.patient_b, world.patient_b, "anyone there?")
    # B has no peer: every peer of B's program reads it, this one included.
    tag = _version_tag(peer, thread_id)
    assert _poll(browsers(peer), thread_id, tag).status_code == 304

    client = browsers(elsewhere)
    response = _poll(client, thread_id, _version_tag(elsewhere, thread_id))
    assert response.status_code == 404


# ---- the statement -------------------------------------------------------------------


def test_only_roles_that_read_messages_are_in_the_statement():
    assert Role.ADMIN not in poll.reader_roles()
    assert set(poll.reader_roles()) == {role for role in Role if role is not Role.ADMIN}


SESSION_USER = (
    "(SELECT web_sessions_1.user_id \nFROM web_sessions AS web_sessions_1 \n"
    "WHERE web_sessions_1.id_hash = %(id_hash)s)"
)


@pytest.mark.parametrize("role", list(Role))
def test_the_shortcuts_rule_is_the_apps_rule_with_the_sessions_user(role):
    """The same SQL, with the user of the session behind `id_hash` where the app
    binds `actor_id`."""
    app_rule = select(MessageThread.id).where(access.may_read(role))
    shortcut_rule = select(MessageThread.id).where(poll.reader_rule(role))
    expected = _where(app_rule).replace("%(actor_id)s", SESSION_USER)
    assert _where(shortcut_rule) == expected
    if role is not Role.ADMIN:  # the cached originals keep their bound value
        assert "actor_id" in str(access.may_read(role))


def _where(statement) -> str:
    """The WHERE clause as PostgreSQL SQL, anonymous bound values unnumbered (a copy
    numbers a value shared by two subqueries twice; it is the same value)."""
    sql = str(statement.compile(dialect=postgresql.dialect())).split("WHERE", 1)[1]
    return re.sub(r"%\((\w+?)_\d+\)s", r"%(\1)s", sql)


# ---- the inbox -----------------------------------------------------------------------


def _inbox_tag(client) -> str:
    """The inbox's ETag as the app gives it (asked without If-None-Match)."""
    response = client.get("/messages/inbox/updates")
    assert response.status_code == 200
    return response.headers["ETag"]


def _inbox_poll(client, tag: str):
    return client.get("/messages/inbox/updates", headers={"If-None-Match": tag})


@pytest.mark.parametrize("who", [Role.PEER, Role.THERAPIST, Role.DIRECTOR])
def test_an_unchanged_inbox_answers_304_in_one_statement(
    who, world, app, browsers, query_counter
):
    thread_id_for(world.patient, world.patient, "hello")
    thread_id_for(world.patient_b, world.patient_b, "hi")
    staff = world.director if who is Role.DIRECTOR else world.staff[who]
    client = browsers(staff)
    tag = _inbox_tag(client)

    first, first_sql = _statements_of(query_counter, lambda: _inbox_poll(client, tag))
    later, later_sql = _statements_of(query_counter, lambda: _inbox_poll(client, tag))

    assert first.status_code == later.status_code == 304
    assert first.headers["ETag"] == tag
    assert first_sql == [_inbox_sql(app, None)]
    assert later_sql == [_inbox_sql(app, who)]


def test_an_empty_inbox_has_the_apps_version(world, browsers, query_counter):
    from tests import factories as f

    elsewhere = f.UserFactory(staff=True, role=Role.PEER, display_name="Peer Far")
    f.StaffMembershipFactory(user_id=elsewhere.id, program_id=world.other_program.id)
    client = browsers(elsewhere)
    tag = _inbox_tag(client)
    response, statements = _statements_of(
        query_counter, lambda: _inbox_poll(client, tag)
    )
    assert tag == '"i0.0.0.0.0"'
    assert response.status_code == 304 and len(statements) == 1, statements


def test_the_inbox_shortcut_sends_the_headers_of_the_apps_own_304(
    world, browsers, monkeypatch
):
    thread_id_for(world.patient, world.patient, "hello")
    client = browsers(world.staff[Role.PEER])
    tag = _inbox_tag(client)
    shortcut = _inbox_poll(client, tag)
    monkeypatch.setattr(
        poll.UnchangedPollShortcut, "unchanged_etag", lambda _self, _environ: None
    )
    flask = _inbox_poll(client, tag)

    assert shortcut.status_code == flask.status_code == 304
    assert sorted(shortcut.headers.items()) == sorted(flask.headers.items())


def test_a_changed_inbox_goes_to_the_app(world, browsers):
    peer = world.staff[Role.PEER]
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client = browsers(peer)
    tag = _inbox_tag(client)
    assert _inbox_poll(client, tag).status_code == 304

    add_message(db.session.get(MessageThread, thread_id), world.patient, "INBOX-NEWS")
    response = _inbox_poll(client, tag)

    assert response.status_code == 200 and response.headers["ETag"] != tag
    assert 'id="inbox" hx-swap-oob="true"' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("who", "learned"),
    [("patient", False), ("patient", True), ("admin", False)],
    ids=["patient, first check", "patient, role known", "admin"],
)
def test_no_inbox_for_patients_or_admins_is_the_apps_404(who, learned, world, browsers):
    person = getattr(world, who)
    client = browsers(person)
    if learned:
        _learn_role(client, person)  # from a check of their own conversation
    assert _inbox_poll(client, '"i0.0.0.0.0"').status_code == 404
    assert _inbox_poll(client, "*").status_code == 404


@pytest.mark.parametrize("change", ["idle", "second factor", "deactivated"])
def test_an_inbox_check_without_a_live_signed_in_session_goes_to_the_app(
    change, world, app, browsers
):
    peer = world.staff[Role.PEER]
    thread_id_for(world.patient, world.patient, "hello")
    client = browsers(peer)
    tag = _inbox_tag(client)
    assert _inbox_poll(client, tag).status_code == 304
    row = _session_row(peer)
    if change == "idle":
        row.last_seen_at = utcnow() - timedelta(
            seconds=app.config["IDLE_TIMEOUT_STAFF"] + 5
        )
    elif change == "second factor":
        row.mfa_passed = False
    else:
        db.session.execute(
            update(User).where(User.id == peer.id).values(is_active=False)
        )
    db.session.flush()

    response = _inbox_poll(client, tag)

    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def _inbox_sql(app, role: Role | None) -> str:
    dialect = app.extensions["engine"].dialect
    return str(poll.unchanged_inbox_statement(role).compile(dialect=dialect))


def test_on_a_server_the_check_is_one_statement_in_autocommit(app, engine):
    """With the app's session bound to a PostgreSQL engine, as under gunicorn, the
    check runs on the driver's own connection in autocommit: no BEGIN, no COMMIT.
    Its rows must be committed for that connection to see them, so this test writes
    its own and removes them after (no sign-in: nothing goes to the append-only audit
    log)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the autocommit path is PostgreSQL's; SQLite runs in the session")
    import secrets as _secrets

    from sqlalchemy import delete

    from portal.blueprints.messages.models import Message, ThreadRead
    from portal.sessions import token_hash
    from tests import factories as f

    token = _secrets.token_urlsafe(32)
    with engine.connect() as setup:
        setup_session = db.session.session_factory(bind=setup)
        patient = f.UserFactory.build(email="autocommit-poll@example.test")
        setup_session.add(patient)
        setup_session.flush()
        thread = MessageThread(id=db.new_id(), patient_id=patient.id, last_seq=0)
        setup_session.add(thread)
        now = utcnow()
        setup_session.add(
            WebSession(
                id_hash=token_hash(token),
                user_id=patient.id,
                mfa_passed=False,
                data={},
                created_at=now,
                last_seen_at=now,
            )
        )
        setup_session.commit()
        setup_session.close()
    statements = []

    def ran(connection, statement):
        # psycopg in autocommit sends the statement alone: no BEGIN before it
        statements.append((statement, connection.autocommit))

    db.session.remove()
    db.session.configure(bind=engine)  # as create_app does for a server
    direct = poll.direct_connections(engine)
    direct.listeners.append(ran)
    try:
        client = app.test_client()
        client.set_cookie("portal_session", token)
        response = _poll(client, thread.id, '"0.0"')
    finally:
        direct.listeners.remove(ran)
        db.session.remove()
        with engine.begin() as cleanup:
            cleanup.execute(delete(ThreadRead).where(ThreadRead.thread_id == thread.id))
            cleanup.execute(delete(Message).where(Message.thread_id == thread.id))
            cleanup.execute(delete(MessageThread).where(MessageThread.id == thread.id))
            cleanup.execute(delete(WebSession).where(WebSession.user_id == patient.id))
            cleanup.execute(delete(User).where(User.id == patient.id))
    assert response.status_code == 304, response.get_data(as_text=True)[:300]
    assert len(statements) == 1, statements
    assert statements[0][1] is True


def test_a_lost_direct_connection_passes_to_the_app_then_is_opened_again(engine):
    """The server's check connection, killed under it (a database restart, an idle
    timeout at a proxy): that check passes to the app (current_row answers None), and
    the next one opens a new connection."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the direct connections are PostgreSQL's")
    from sqlalchemy import literal

    direct = poll.DirectConnections(engine)
    statement = select(literal(1).label("one"))
    assert direct.first(statement, {}) == (1,)
    first = direct.local.connection
    with engine.connect() as admin:
        admin.execute(
            text("SELECT pg_terminate_backend(:pid)"), {"pid": first.info.backend_pid}
        )
    db.session.remove()
    db.session.configure(bind=engine)
    poll._DIRECT[engine.url.render_as_string(hide_password=False)] = direct
    try:
        assert poll.current_row(statement, {}) is None  # the app answers this one
        assert first.closed
        assert poll.current_row(statement, {}) == (1,)
        assert direct.local.connection is not first
    finally:
        poll._DIRECT.clear()
        db.session.remove()


def test_a_driver_statement_keeps_the_values_written_in_it(app):
    """Role names and constants are bound as SQLAlchemy binds them; the check's own
    values (timestamps) get the column type's conversion."""
    statement = poll.unchanged_thread_statement(Role.PATIENT)
    dialect = postgresql.psycopg.dialect()
    driver = poll.DriverStatement.compile(statement, dialect)
    assert "patient" in driver.fixed.values()
    assert "%(id_hash)s" in driver.sql
    assert not {"id_hash", "created_after"} & set(driver.fixed)
    params = poll.statement_params(app.config, "x" * 64, None)
    values = driver.values(params)
    assert values["created_after"] == params["created_after"]
    assert values["id_hash"] == "x" * 64
