"""Server-side sessions stored in the database.

The cookie holds a random token; the table is keyed by its SHA-256, so a leaked table
cannot be replayed as cookies. Every request reads its session with its user in
one query. Changes are written with plain statements too, in
the request's own transaction (`persist_session`, called just before the single
commit); `save_session` only sets or clears the cookie.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.datastructures import CallbackDict

from portal import db
from portal.blueprints.auth.models import User, WebSession
from portal.db import utcnow
from portal.security import Role

log = logging.getLogger("portal.sessions")

LAST_SEEN_GRANULARITY = timedelta(seconds=60)
ANONYMOUS_IDLE = timedelta(hours=2)

SESSIONS = WebSession.__table__


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ServerSession(CallbackDict, SessionMixin):
    """The session of one request: its stored values, its user, and what to write."""

    def __init__(self, data: dict | None = None):
        def on_update(_self):
            self.modified = True

        super().__init__(data or {}, on_update)
        self.id_hash: str | None = None  # the stored row, when there is one
        self.token: str | None = None
        self.user: User | None = None
        self.mfa_passed = False
        self.created_at: datetime | None = None
        self.last_seen_at: datetime | None = None
        self.modified = False
        self.rotate_requested = False
        self.destroy_requested = False
        self.expired = False
        self.passive = False  # a background poll is not activity
        self.cookie_due = False
        # The database did not answer when the session was read: nobody is signed in
        # for this request, public pages still render, and nothing is written.
        self.database_down = False

    @property
    def user_id(self) -> str | None:
        return self.user.id if self.user is not None else None

    def rotate(self) -> None:
        """Issue a new token at the end of this request (sign-in, privilege change)."""
        self.rotate_requested = True

    def destroy(self) -> None:
        self.destroy_requested = True


def idle_limit(app: Flask, user: User | None) -> timedelta:
    if user is None:
        return ANONYMOUS_IDLE
    key = "IDLE_TIMEOUT_PATIENT" if user.role is Role.PATIENT else "IDLE_TIMEOUT_STAFF"
    return timedelta(seconds=app.config[key])


def is_session_expired(app: Flask, session: ServerSession, now: datetime) -> bool:
    user = session.user
    if user is not None and not user.is_active:
        return True
    if now - session.created_at > timedelta(seconds=app.config["ABSOLUTE_TIMEOUT"]):
        return True
    return now - session.last_seen_at > idle_limit(app, user)


class DatabaseSessionInterface(SessionInterface):
    def cookie_name(self, app: Flask) -> str:
        return (
            "__Host-portal" if app.config["SESSION_COOKIE_SECURE"] else "portal_session"
        )

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        if request.path.startswith("/static/"):
            return ServerSession()
        token = request.cookies.get(self.cookie_name(app))
        if not token or len(token) > 100:
            return ServerSession()
        id_hash = token_hash(token)
        try:
            row = _read_session(id_hash)
        except (DBAPIError, SQLAlchemyTimeoutError):
            log.warning("session not read: the database did not answer")
            _forget_failed_transaction()
            unavailable = ServerSession()
            unavailable.database_down = True
            return unavailable
        if row is None:
            return ServerSession()
        session = ServerSession(dict(row.data or {}))
        session.id_hash, session.token = id_hash, token
        session.mfa_passed = bool(row.mfa_passed)
        session.created_at, session.last_seen_at = row.created_at, row.last_seen_at
        session.user = row.User
        if is_session_expired(app, session, utcnow()):
            db.session.execute(delete(SESSIONS).where(SESSIONS.c.id_hash == id_hash))
            fresh = ServerSession()
            fresh.expired = session.user is not None
            fresh.modified = fresh.expired
            return fresh
        return session

    def save_session(
        self, app: Flask, session: ServerSession, response: Response
    ) -> None:
        name = self.cookie_name(app)
        if session.token and session.id_hash is not None and session.cookie_due:
            response.set_cookie(
                name,
                session.token,
                httponly=True,
                secure=app.config["SESSION_COOKIE_SECURE"],
                samesite="Lax",
                path="/",
            )
        elif session.destroy_requested or session.expired:
            response.delete_cookie(name, path="/")


def _read_session(id_hash: str):
    return db.session.execute(
        select(
            WebSession.data,
            WebSession.mfa_passed,
            WebSession.created_at,
            WebSession.last_seen_at,
            User,
        )
        .outerjoin(User, User.id == WebSession.user_id)
        .where(WebSession.id_hash == id_hash)
    ).first()


def _forget_failed_transaction() -> None:
    try:
        db.session.rollback()
    except (DBAPIError, SQLAlchemyTimeoutError):
        db.session.close()


def persist_session(session: ServerSession, ip: str | None) -> bool:
    """Write the session's changes into the current transaction; True when something
    was written."""
    if not isinstance(session, ServerSession) or session.database_down:
        return False
    if session.destroy_requested:
        if session.id_hash is not None:
            _delete(session.id_hash)
        session.id_hash, session.token, session.user = None, None, None
        return True
    if session.id_hash is not None and session.rotate_requested:
        _delete(session.id_hash)
        _insert(session, ip)
        return True
    if session.id_hash is None:
        if not (session.modified and dict(session)) and not session.rotate_requested:
            return False
        _insert(session, ip)
        return True
    values: dict = {}
    if session.modified:
        values["data"] = dict(session)
    now = utcnow()
    if not session.passive and now - session.last_seen_at > LAST_SEEN_GRANULARITY:
        values["last_seen_at"] = now
    if not values:
        return False
    db.session.execute(
        update(SESSIONS).where(SESSIONS.c.id_hash == session.id_hash).values(values)
    )
    return True


def _delete(id_hash: str) -> None:
    db.session.execute(delete(SESSIONS).where(SESSIONS.c.id_hash == id_hash))


def _insert(session: ServerSession, ip: str | None) -> None:
    """Store the session under a new token (a new session, or a rotation)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.execute(
        insert(SESSIONS).values(
            id_hash=token_hash(token),
            data=dict(session),
            ip=ip,
            user_id=session.user_id,
            mfa_passed=session.mfa_passed,
            created_at=now,
            last_seen_at=now,
        )
    )
    session.id_hash, session.token = token_hash(token), token
    session.created_at = session.last_seen_at = now
    session.rotate_requested = False
    session.cookie_due = True


def sign_session_in(session: ServerSession, user, *, mfa_passed: bool) -> None:
    """Bind the session to a user with a fresh token (rotated at every sign-in step;
    written with the request's other changes, before its commit)."""
    session.user = user
    session.mfa_passed = mfa_passed
    session.rotate_requested = True
