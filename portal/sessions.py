"""Server-side sessions stored in the database.

The cookie holds a random token; the table is keyed by its SHA-256, so a leaked table
cannot be replayed as cookies. The row is written in the request's own transaction
(`persist_session`, called just before the single commit); `save_session` only sets or
clears the cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import bindparam, select
from werkzeug.datastructures import CallbackDict

from portal import db
from portal.blueprints.auth.models import Role, WebSession
from portal.db import utcnow

LAST_SEEN_GRANULARITY = timedelta(seconds=60)
ANONYMOUS_IDLE = timedelta(hours=2)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, row: WebSession | None = None, token: str | None = None):
        def on_update(_self):
            self.modified = True

        super().__init__(dict(row.data) if row else {}, on_update)
        self.row = row
        self.token = token
        self.modified = False
        self.rotate_requested = False
        self.destroy_requested = False
        self.expired = False

    @property
    def user(self):
        return self.row.user if self.row else None

    @property
    def user_id(self) -> str | None:
        return self.row.user_id if self.row else None

    @property
    def mfa_passed(self) -> bool:
        return bool(self.row and self.row.mfa_passed)

    def rotate(self) -> None:
        """Issue a new token at the end of this request (sign-in, privilege change)."""
        self.rotate_requested = True

    def destroy(self) -> None:
        self.destroy_requested = True


def idle_limit(app: Flask, row: WebSession) -> timedelta:
    if row.user is None:
        return ANONYMOUS_IDLE
    key = (
        "IDLE_TIMEOUT_PATIENT"
        if row.user.role is Role.PATIENT
        else "IDLE_TIMEOUT_STAFF"
    )
    return timedelta(seconds=app.config[key])


def is_session_expired(app: Flask, row: WebSession, now: datetime) -> bool:
    if row.user is not None and not row.user.is_active:
        return True
    if now - row.created_at > timedelta(seconds=app.config["ABSOLUTE_TIMEOUT"]):
        return True
    return now - row.last_seen_at > idle_limit(app, row)


@cache
def _session_by_hash():
    """Built once: every request runs it, and building a select costs more than
    running it (bench/README.md). The user comes in the same query (joined)."""
    return select(WebSession).where(WebSession.id_hash == bindparam("id_hash"))


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
        row = db.session.scalar(_session_by_hash(), {"id_hash": token_hash(token)})
        if row is None:
            return ServerSession()
        if is_session_expired(app, row, utcnow()):
            db.session.delete(row)
            fresh = ServerSession()
            fresh.expired = row.user_id is not None
            fresh.modified = fresh.expired
            return fresh
        return ServerSession(row, token)

    def save_session(
        self, app: Flask, session: ServerSession, response: Response
    ) -> None:
        name = self.cookie_name(app)
        cookie_due = getattr(session, "cookie_due", False)
        if session.token and session.row is not None and cookie_due:
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


def persist_session(session: ServerSession, ip: str | None) -> None:
    """Write the session's changes into the current transaction."""
    if not isinstance(session, ServerSession):
        return
    if session.destroy_requested:
        if session.row is not None:
            db.session.delete(session.row)
        session.row, session.token = None, None
        return
    now = utcnow()
    if session.row is not None and session.rotate_requested:
        old = session.row
        session.row = _new_row(
            dict(session), ip, user_id=old.user_id, mfa_passed=old.mfa_passed
        )
        db.session.delete(old)
        session.token, session.row = session.row.token, session.row
        session.cookie_due = True
        return
    if session.row is None:
        if not session.modified or not dict(session):
            return
        session.row = _new_row(dict(session), ip)
        session.token = session.row.token
        session.cookie_due = True
        return
    if session.modified:
        session.row.data = dict(session)
    if getattr(session, "passive", False):
        return  # a background poll (messages' "anything new?") is not activity
    if now - session.row.last_seen_at > LAST_SEEN_GRANULARITY:
        session.row.last_seen_at = now


def _new_row(data: dict, ip: str | None, user_id=None, mfa_passed=False) -> WebSession:
    token = secrets.token_urlsafe(32)
    row = WebSession(
        id_hash=token_hash(token),
        data=data,
        ip=ip,
        user_id=user_id,
        mfa_passed=mfa_passed,
        created_at=utcnow(),
        last_seen_at=utcnow(),
    )
    row.token = token  # transient attribute, never stored
    db.session.add(row)
    return row


def sign_session_in(session: ServerSession, user, *, mfa_passed: bool, ip) -> None:
    """Bind the session to a user with a fresh token (rotated at every sign-in step)."""
    old = session.row
    session.row = _new_row(dict(session), ip, user_id=user.id, mfa_passed=mfa_passed)
    session.row.user = user
    if old is not None:
        db.session.delete(old)
    session.token = session.row.token
    session.cookie_due = True
    session.rotate_requested = False
