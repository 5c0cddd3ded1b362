"""The programs' on-call numbers, kept in each web process's memory so that crisis
help never waits on the database: read when the app is made, and read again after a
crisis or error page has been sent, when the copy is older than a few minutes. When the
database has never answered, the installation's own number (PORTAL_ON_CALL_PHONE)
stands in."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm import Session

from portal.blueprints.programs.models import Program

log = logging.getLogger("portal.on_call")

REFRESH_AFTER_SECONDS = 300


@dataclass(frozen=True)
class OnCallLine:
    program_id: str | None
    name: str
    phone: str


class OnCallNumbers:
    """A copy in memory; `lines()` never touches the database."""

    def __init__(self) -> None:
        self._lines: tuple[OnCallLine, ...] = ()
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def lines(self, app: Flask) -> list[OnCallLine]:
        if self._lines:
            return list(self._lines)
        fallback = app.config.get("ON_CALL_PHONE")
        return [OnCallLine(None, "Your program", fallback)] if fallback else []

    def line_of(self, app: Flask, program_id: str | None) -> OnCallLine | None:
        return next(
            (line for line in self.lines(app) if line.program_id == program_id), None
        )

    def is_stale(self) -> bool:
        read_at = self._read_at
        return read_at is None or time.monotonic() - read_at > REFRESH_AFTER_SECONDS

    def refresh(self, session: Session, quiet: bool = False) -> bool:
        """Read the numbers again (one query); keep the old copy when that fails."""
        if not self._lock.acquire(blocking=False):
            return False  # another thread of this process is reading them
        try:
            rows = session.execute(
                select(Program.id, Program.name, Program.on_call_phone).order_by(
                    Program.name
                )
            ).all()
            self._lines = tuple(OnCallLine(*row) for row in rows)
            self._read_at = time.monotonic()
            return True
        except (DBAPIError, SQLAlchemyTimeoutError):
            level = logging.DEBUG if quiet else logging.WARNING
            log.log(level, "on-call numbers not read: the database did not answer")
            session.rollback()
            return False
        finally:
            self._lock.release()


def init_on_call_numbers(app: Flask) -> None:
    """Give the app its copy, read once now if the database answers (a new database
    before its first migration does not)."""
    numbers = app.extensions["on_call"] = OnCallNumbers()
    with Session(app.extensions["engine"]) as session:
        numbers.refresh(session, quiet=True)


def on_call_numbers(app: Flask) -> OnCallNumbers:
    return app.extensions["on_call"]


def refresh_when_stale(app: Flask) -> None:
    """Read the numbers again outside any request (after a response was sent), in a
    session of its own: the request's is gone, and a test's must stay untouched."""
    numbers = on_call_numbers(app)
    if numbers.is_stale():
        with Session(app.extensions["engine"]) as session:
            numbers.refresh(session)
