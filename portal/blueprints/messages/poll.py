"""The idle "anything new?" checks of an open conversation and of a staff member's
open inbox, answered before Flask.

Every open conversation asks every few seconds (`GET /messages/<id>/updates` with
`If-None-Match`), every open inbox too (`GET /messages/inbox/updates`), and nearly
every answer is 304. Through Flask each one paid the whole request machinery (the
session, the hooks, the commit) for an answer with no body. This WSGI middleware
answers that one case itself, with one statement that checks together the session
(the same timeouts as portal.sessions, an active user, the second factor for staff),
the who-may-read rule of the user's role (portal/blueprints/messages/access.py) and
the version (services.poll_version; for the inbox, caseload.inbox_version over the
threads that rule lets in).

It only ever answers 304, and only when that statement says the client already has
the current version. Everything else (another path, no cookie, a changed version, a
thread the person may not read, an expired session, a database error) goes to Flask
unchanged, which decides with everything it has: the audit row of a refusal, the 404,
the sign-in redirect, the deletion of an expired session. A 304 writes nothing: no
audit row (it shows nothing), no session write (a poll is not activity, so the idle
timeout still applies).

The statement for every reader role at once is large (an OR over their rules, about
30 subqueries), and PostgreSQL sets up every subquery of its plan at each run. So the
first check of a session in a process runs it and learns the user's role; later ones
run the statement of that role alone, which checks the role again (about a third
less CPU in the app and in PostgreSQL; bench/README.md). A role that changed only
sends one check to the app and is learned again.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

import psycopg
from flask import Flask
from sqlalchemy import and_, bindparam, or_, select, union_all
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import replacement_traverse
from werkzeug.http import parse_cookie, parse_etags

from portal import db
from portal.blueprints.auth.models import Role, User, WebSession
from portal.blueprints.messages import access, caseload, services
from portal.blueprints.messages.models import MessageThread
from portal.db import utcnow
from portal.headers import SECURITY_HEADERS, VARY
from portal.security import ROLE_PERMISSIONS, Permission
from portal.sessions import token_hash

log = logging.getLogger(__name__)

UPDATES_PATH = re.compile(r"/messages/([^/]{36})/updates")
INBOX_PATH = "/messages/inbox/updates"
READ_PERMISSIONS = frozenset({Permission.MESSAGES_PATIENT, Permission.MESSAGES_STAFF})
INBOX_PERMISSIONS = frozenset({Permission.MESSAGES_STAFF})
NOT_MODIFIED_HEADERS = (
    *SECURITY_HEADERS,
    ("Vary", ", ".join(VARY)),
    ("Cache-Control", "no-store, private"),
)


def reader_roles(permissions=READ_PERMISSIONS) -> list[Role]:
    """The roles whose permissions let them open a conversation (or an inbox)."""
    return [
        role for role in Role if ROLE_PERMISSIONS.get(role, frozenset()) & permissions
    ]


@cache
def _session_user():
    """The user id of the session behind `id_hash`, as an uncorrelated subquery:
    PostgreSQL runs it once per statement (an InitPlan) and plans the rules around it
    as around a bound value; correlated to the outer session row instead, the
    inbox's rule was planned as a test of every thread in the database."""
    me = aliased(WebSession)
    return (
        select(me.user_id).where(me.id_hash == bindparam("id_hash")).scalar_subquery()
    )


def _as_session_user(clause):
    """The clause with the session's user in place of the bound `actor_id`.
    replacement_traverse works on a copy: the cached originals stay as they are for
    the statements that bind it."""

    def swap(element):
        if isinstance(element, BindParameter) and element.key == "actor_id":
            return _session_user()
        return None

    return replacement_traverse(clause, {}, swap)


def reader_rule(role: Role):
    """access.may_read(role), with the session's user as the reader."""
    return _as_session_user(access.may_read(role))


def _session_alive(roles: list[Role]):
    """portal.sessions.is_session_expired, negated, for a signed-in user of one of
    these roles (the absolute timeout is in the statement's WHERE), and the second
    factor for staff."""
    patient = User.role == Role.PATIENT
    alive = []
    if Role.PATIENT in roles:
        alive.append(
            and_(patient, WebSession.last_seen_at >= bindparam("patient_seen_after"))
        )
    if any(role.is_staff for role in roles):
        alive.append(
            and_(
                ~patient,
                WebSession.last_seen_at >= bindparam("staff_seen_after"),
                WebSession.mfa_passed.is_(True),
            )
        )
    return or_(*alive)


def _readers(roles: list[Role]):
    """OR over these roles of (the user's role, that role's rule); roles whose rules
    are the same SQL (therapist, prescriber, nurse) share one term, which keeps the
    statement and its bound values fewer."""
    groups: dict[tuple, tuple[list[Role], object]] = {}
    for role in roles:
        rule = reader_rule(role)
        compiled = rule.compile()
        key = (str(compiled), tuple(sorted(compiled.params.items())))
        groups.setdefault(key, ([], rule))[0].append(role)
    return or_(
        *(
            and_(or_(*(User.role == role for role in group)), rule)
            for group, rule in groups.values()
        )
    )


def _signed_in(roles: list[Role], *columns):
    """These columns and the user's role (last), for the session behind `id_hash`
    when it is signed in and its user active and of one of these roles."""
    return (
        select(*columns, User.role)
        .select_from(WebSession)
        .join(User, User.id == WebSession.user_id)
        .where(
            WebSession.id_hash == bindparam("id_hash"),
            WebSession.created_at >= bindparam("created_after"),
            User.is_active.is_(True),
            _session_alive(roles),
        )
    )


@cache
def unchanged_thread_statement(role: Role | None = None):
    """The thread's version (last message number, others' read total) and the user's
    role when the session is signed in and its user, of this role (None: of any
    reader role), may read the thread; no row otherwise. Built once per role."""
    roles = reader_roles() if role is None else [role]
    if not set(roles) <= set(reader_roles()):
        return None
    others = _as_session_user(services.others_read_total())
    return (
        _signed_in(roles, MessageThread.last_seq, others)
        .join(MessageThread, MessageThread.id == bindparam("thread_id"))
        .where(_readers(roles))
    )


@cache
def unchanged_inbox_statement(role: Role | None = None):
    """The inbox's version (caseload.inbox_version) and the user's role when the
    session is signed in and its user is staff of this role (None: of any staff
    role with an inbox); no row otherwise. Built once per role. For an unknown role,
    one aggregate per role, of which only the user's has the role: the rules OR-ed
    into one aggregate would be tested against every thread of the database."""
    staff = reader_roles(INBOX_PERMISSIONS)
    roles = staff if role is None else [role]
    if not set(roles) <= set(staff):
        return None
    inboxes = union_all(*(_inbox_of(each) for each in roles)).subquery()
    return select(inboxes).where(inboxes.c.role.is_not(None))


def _inbox_of(role: Role):
    """The inbox's aggregates as caseload.inbox_version has them (the rule in the
    WHERE, as PostgreSQL plans best), and the role: NULL unless the session is a
    signed-in one of a user of this role."""
    columns = [_as_session_user(c) for c in caseload.inbox_version_columns()]
    signed_in = _signed_in([role]).where(User.role == role).scalar_subquery()
    return select(*columns, signed_in.label("role")).where(
        MessageThread.last_seq > 0, reader_rule(role)
    )


def _thread_etag(row) -> str:
    return services.make_etag(row[0], row[1] or 0)


def _inbox_etag(row) -> str:
    return caseload.inbox_etag(row[:5])


def statement_params(config, id_hash: str, thread_id: str | None) -> dict:
    """The bound values: the timeouts of portal.sessions as the oldest times still
    alive, from the app's configuration."""
    now = utcnow()
    return {
        "id_hash": id_hash,
        "thread_id": thread_id,
        "now": now,
        "created_after": now - timedelta(seconds=config["ABSOLUTE_TIMEOUT"]),
        "patient_seen_after": now - timedelta(seconds=config["IDLE_TIMEOUT_PATIENT"]),
        "staff_seen_after": now - timedelta(seconds=config["IDLE_TIMEOUT_STAFF"]),
    }


def current_row(statement, params: dict):
    """The statement's one row, or None.

    On a server (the app's session bound to a PostgreSQL engine) it runs on the
    driver itself (`DirectConnections`): one round trip in autocommit, with none of
    SQLAlchemy's execution machinery, which cost half of the check's CPU in the app.
    When the session is bound to one connection (the tests' transaction, rolled back
    at the end) or to SQLite (the demo), it runs in the request's scoped session,
    ended before Flask or the answer goes on.
    """
    try:
        bind = db.session.session_factory.kw.get("bind")
        if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            return direct_connections(bind).first(statement, params)
        return row_in_session(statement, params)
    except (SQLAlchemyError, psycopg.Error) as error:
        log.warning("poll shortcut passes to the app: %s", type(error).__name__)
        return None


def row_in_session(statement, params: dict):
    """The statement's one row, run in the request's scoped session, which it ends."""
    try:
        row = db.session.connection().execute(statement, params).first()
        # Nothing was written. Commit rather than roll back, as every request does:
        # a rollback would also drop what the scoped session already held.
        db.session.commit()
    finally:
        db.session.remove()
    return row


@dataclass(frozen=True)
class DriverStatement:
    """A statement compiled once for the driver: its SQL, the values written in it
    (role names, constants) already converted as SQLAlchemy converts them, and the
    conversions of the values each check binds (the UTC timestamps)."""

    sql: str
    fixed: dict
    conversions: dict

    @classmethod
    def compile(cls, statement, dialect) -> DriverStatement:
        compiled = statement.compile(dialect=dialect)
        sql = str(compiled)
        if "POSTCOMPILE" in sql:  # an IN list would need SQLAlchemy at each run
            raise ValueError("a poll statement must not expand parameters")
        processors = compiled._bind_processors
        fixed = {}
        for bind, name in compiled.bind_names.items():
            if not bind.required:  # a value written in the statement
                value = bind.effective_value
                fixed[name] = processors[name](value) if name in processors else value
        conversions = {k: f for k, f in processors.items() if k not in fixed}
        return cls(sql, fixed, conversions)

    def values(self, params: dict) -> dict:
        values = dict(self.fixed)
        for key, value in params.items():
            convert = self.conversions.get(key)
            values[key] = convert(value) if convert is not None else value
        return values


class DirectConnections:
    """The check's own PostgreSQL connections: one per thread that asks, opened on
    first use in autocommit (one statement is one round trip: no BEGIN, no COMMIT),
    its statements prepared on the server. A connection that fails is closed and
    the error goes up (the check passes to Flask); the next check opens a new one.

    `listeners` are called with the connection and each statement's SQL before it
    is sent (the tests and bench/messages.py count statements with them, as with
    SQLAlchemy's before_cursor_execute on the app's engine)."""

    def __init__(self, engine: Engine):
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self.dialect = engine.dialect
        self.local = threading.local()
        self.listeners: list = []
        self._compiled: dict[object, DriverStatement] = {}

    def first(self, statement, params: dict):
        driver = self._driver_statement(statement)
        connection = getattr(self.local, "connection", None)
        if connection is None or connection.closed:
            connection = psycopg.connect(self.conninfo, autocommit=True)
            self.local.connection = connection
        for listener in self.listeners:
            listener(connection, driver.sql)
        try:
            cursor = connection.execute(driver.sql, driver.values(params), prepare=True)
            return cursor.fetchone()
        except psycopg.Error:
            self.local.connection = None
            connection.close()
            raise

    def _driver_statement(self, statement) -> DriverStatement:
        driver = self._compiled.get(statement)  # the statements are built once each
        if driver is None:
            driver = self._compiled[statement] = DriverStatement.compile(
                statement, self.dialect
            )
        return driver


_DIRECT: dict[str, DirectConnections] = {}


def direct_connections(engine: Engine) -> DirectConnections:
    """The check's connections to the database of this engine (one set per
    database, shared by the apps of a process)."""
    url = engine.url.render_as_string(hide_password=False)
    if url not in _DIRECT:
        _DIRECT[url] = DirectConnections(engine)
    return _DIRECT[url]


class SessionRoles:
    """The role of each session's user as its last check found it, for at most
    `limit` sessions (the oldest forgotten first). It only picks the statement to
    run; that statement checks the role again."""

    def __init__(self, limit: int = 10_000):
        self.limit = limit
        self.roles: dict[str, Role] = {}
        self.lock = threading.Lock()

    def get(self, id_hash: str) -> Role | None:
        return self.roles.get(id_hash)

    def remember(self, id_hash: str, role: Role) -> None:
        with self.lock:
            if id_hash not in self.roles:
                while self.roles and len(self.roles) >= self.limit:
                    del self.roles[next(iter(self.roles))]
                if self.limit <= 0:
                    return
            self.roles[id_hash] = role

    def forget(self, id_hash: str) -> None:
        with self.lock:
            self.roles.pop(id_hash, None)


class UnchangedPollShortcut:
    """WSGI middleware: 304 for an unchanged conversation or inbox, everything else
    to Flask."""

    def __init__(self, app: Flask, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self.session_roles = SessionRoles()

    def __call__(self, environ, start_response):
        try:
            etag = self.unchanged_etag(environ)
        except Exception:  # never worse than without the shortcut: the app answers
            log.exception("poll shortcut failed; passing to the app")
            etag = None
        if etag is None:
            return self.wsgi_app(environ, start_response)
        start_response(
            "304 Not Modified", [("ETag", f'"{etag}"'), *NOT_MODIFIED_HEADERS]
        )
        return []

    def unchanged_etag(self, environ) -> str | None:
        """The version the client already has, when it is still the current one and
        the session may read the thread (or has this inbox); None in every other
        case."""
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if environ.get("REQUEST_METHOD") != "GET" or not if_none_match:
            return None
        statement_for, etag_of, thread_id = _which_check(environ.get("PATH_INFO", ""))
        if statement_for is None:
            return None
        cookie_name = self.app.session_interface.cookie_name(self.app)
        token = parse_cookie(environ.get("HTTP_COOKIE")).get(cookie_name)
        if not token or len(token) > 100:
            return None
        id_hash = token_hash(token)
        statement = statement_for(self.session_roles.get(id_hash))
        params = statement_params(self.app.config, id_hash, thread_id)
        row = current_row(statement, params) if statement is not None else None
        if row is None:
            self.session_roles.forget(id_hash)
            return None
        self.session_roles.remember(id_hash, Role(row[-1]))
        etag = etag_of(row)
        return etag if parse_etags(if_none_match).contains(etag) else None


def _which_check(path: str):
    """(statement for a role, ETag of its row, thread id) of the check this path
    asks for; Nones for any other path."""
    if path == INBOX_PATH:
        return unchanged_inbox_statement, _inbox_etag, None
    match = UPDATES_PATH.fullmatch(path)
    if match is not None and access.looks_like_id(match[1]):
        return unchanged_thread_statement, _thread_etag, match[1]
    return None, None, None
