"""The idle "anything new?" check of an open conversation, answered before Flask.

Every open conversation asks every few seconds (`GET /messages/<id>/updates` with
`If-None-Match`), and nearly every answer is 304. Through Flask each one paid the
request machinery's floor (the session through the ORM, the hooks, the commit: about
1.5 ms of CPU, bench/README.md) for an answer with no body. This WSGI middleware answers
that one case itself, with one statement that checks together the session (the same
timeouts as portal.sessions, an active user, the second factor for staff), the
who-may-read rule of the user's role (portal/blueprints/messages/access.py) and the
thread's version (services.poll_version).

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
from datetime import timedelta
from functools import cache

from flask import Flask
from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import Select
from sqlalchemy.sql.visitors import replacement_traverse
from werkzeug.http import parse_cookie, parse_etags

from portal import db
from portal.blueprints.auth.models import Role, User, WebSession
from portal.blueprints.messages import access, services
from portal.blueprints.messages.models import MessageThread
from portal.db import utcnow
from portal.headers import SECURITY_HEADERS, VARY
from portal.security import ROLE_PERMISSIONS, Permission
from portal.sessions import token_hash

log = logging.getLogger(__name__)

UPDATES_PATH = re.compile(r"/messages/([^/]{36})/updates")
READ_PERMISSIONS = frozenset({Permission.MESSAGES_PATIENT, Permission.MESSAGES_STAFF})
NOT_MODIFIED_HEADERS = (
    *SECURITY_HEADERS,
    ("Vary", ", ".join(VARY)),
    ("Cache-Control", "no-store, private"),
)
OUTER_TABLES = (WebSession.__table__, User.__table__, MessageThread.__table__)


def reader_roles() -> list[Role]:
    """The roles whose permissions let them open a conversation at all."""
    return [
        role
        for role in Role
        if ROLE_PERMISSIONS.get(role, frozenset()) & READ_PERMISSIONS
    ]


def _as_session_user(clause):
    """The clause with the actor's id taken from the session row instead of the bound
    `actor_id`. replacement_traverse works on a copy: the cached originals stay as
    they are for the statements that bind it. Every select inside correlates to the
    outer tables at whatever depth: SQLAlchemy correlates one level only, and the
    session's user is two levels down in access.shares_program."""

    def swap(element):
        if isinstance(element, BindParameter) and element.key == "actor_id":
            return WebSession.__table__.c.user_id
        if isinstance(element, Select) and element is not clause:
            return _as_session_user(element).correlate(*OUTER_TABLES)
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


@cache
def unchanged_thread_statement(role: Role | None = None):
    """The thread's version (last message number, others' read total) and the user's
    role when the session behind `id_hash` is signed in and its user, of this role
    (None: of any reader role), may read the thread; no row otherwise. Built once
    per role."""
    roles = reader_roles() if role is None else [role]
    return (
        select(
            MessageThread.last_seq,
            _as_session_user(services.others_read_total()),
            User.role,
        )
        .select_from(WebSession)
        .join(User, User.id == WebSession.user_id)
        .join(MessageThread, MessageThread.id == bindparam("thread_id"))
        .where(
            WebSession.id_hash == bindparam("id_hash"),
            WebSession.created_at >= bindparam("created_after"),
            User.is_active.is_(True),
            _session_alive(roles),
            _readers(roles),
        )
    )


def statement_params(config, id_hash: str, thread_id: str) -> dict:
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


def current_version(role: Role | None, params: dict):
    """(last message number, others' read total, role), or None. Run in the
    request's scoped session (where the tests bind their transaction), which is
    ended before Flask or the answer goes on."""
    try:
        row = (
            db.session.connection()
            .execute(unchanged_thread_statement(role), params)
            .first()
        )
        # Nothing was written. Commit rather than roll back, as every request does:
        # a rollback would also drop whatever the scoped session already held.
        db.session.commit()
    except SQLAlchemyError as error:
        log.warning("poll shortcut passes to the app: %s", type(error).__name__)
        return None
    finally:
        db.session.remove()
    return (row[0], row[1] or 0, row[2]) if row is not None else None


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


class UnchangedThreadShortcut:
    """WSGI middleware: 304 for an unchanged conversation, everything else to Flask."""

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
        the session may read the thread; None in every other case."""
        if environ.get("REQUEST_METHOD") != "GET":
            return None
        match = UPDATES_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if match is None or not if_none_match or not access.looks_like_id(match[1]):
            return None
        cookie_name = self.app.session_interface.cookie_name(self.app)
        token = parse_cookie(environ.get("HTTP_COOKIE")).get(cookie_name)
        if not token or len(token) > 100:
            return None
        id_hash = token_hash(token)
        params = statement_params(self.app.config, id_hash, match[1])
        version = current_version(self.session_roles.get(id_hash), params)
        if version is None:
            self.session_roles.forget(id_hash)
            return None
        last_seq, others_read_total, role = version
        self.session_roles.remember(id_hash, role)
        etag = services.make_etag(last_seq, others_read_total)
        return etag if parse_etags(if_none_match).contains(etag) else None
