"""Run Alembic migrations from code (used by the CLI and the tests)."""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


@cache
def newest_revision() -> str:
    """The head of the migrations shipped with this code (read once per process)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


@cache
def known_revisions() -> frozenset[str]:
    """Every revision this code ships, oldest to newest."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(
        rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()
    )


class Schema(StrEnum):
    """Where the database stands against this code's migrations."""

    CURRENT = "current"
    OLDER = "older"  # this code needs `portal migrate` before it can serve
    NEWER = "newer"  # migrated by newer code: old code serving during a rolling deploy
    UNREACHABLE = "unreachable"


def schema_state(session: Session) -> tuple[Schema, str | None]:
    """The database's state and its revision. Newer than this code counts as usable:
    migrations are written so that the code before them still runs (see
    docs/deployment.md), which lets old hosts serve while new ones start."""
    try:
        at = session.scalar(text("SELECT version_num FROM alembic_version"))
    except (DBAPIError, SQLAlchemyTimeoutError) as error:
        session.rollback()
        if _never_migrated(error):
            return Schema.OLDER, None
        return Schema.UNREACHABLE, None
    if at == newest_revision():
        return Schema.CURRENT, at
    if at is None or at in known_revisions():
        return Schema.OLDER, at
    return Schema.NEWER, at


def _never_migrated(error: Exception) -> bool:
    """The database answered, and has no alembic_version table."""
    if isinstance(error, ProgrammingError):  # PostgreSQL: undefined table
        return True
    return "no such table" in str(getattr(error, "orig", ""))  # SQLite
