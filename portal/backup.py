"""Nightly dumps of the PostgreSQL database and the monthly restore drill.

`portal backup --to DIR` writes `portal-<UTC time>.dump` (pg_dump's custom format)
and beside it `portal-<UTC time>.json`: the row count of every table, the migration
and the dump's SHA-256. The counts come from the very snapshot the dump was taken
from (a REPEATABLE READ transaction exports it and pg_dump reads it with
`--snapshot`), so they are exact however busy the database is.

`portal restore-drill --from DIR` proves the newest of them can be used: it checks
the dump's SHA-256, restores it into a fresh database, runs `portal audit verify` on
it (as a command of its own, exactly as an operator would), compares every table's
row count and the migration with the manifest, and drops the database again. It
exits 1 and says what differs when anything does.

Passwords never reach a command line (where `ps` shows them): pg_dump and
pg_restore get them through PGPASSWORD.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import URL, create_engine, func, select, table, text

PREFIX = "portal-"
TABLES = text(
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
)


class BackupError(RuntimeError):
    """A backup or drill that cannot go on; the message says why, without secrets."""


def _libpq(url: URL) -> tuple[str, dict]:
    """The URL for libpq's tools without its password, and the environment with it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed (apt-get install postgresql-client)"
        )
    return found


def _require_postgresql(url: URL) -> None:
    if not url.drivername.startswith("postgresql"):
        raise BackupError(
            "backups are for PostgreSQL (PORTAL_DATABASE_URL); SQLite is for "
            "development: copy its file while nothing runs"
        )


def _count_rows(connection) -> dict[str, int]:
    tables = connection.execute(TABLES).scalars().all()
    return {
        name: connection.execute(
            select(func.count()).select_from(table(name))
        ).scalar_one()
        for name in tables
    }


def _revision(connection) -> str | None:
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- backup --------------------------------------------------------------------------


def take_backup(url: URL, folder: Path, keep: int = 14) -> Path:
    """Dump the database and write its manifest; keep the `keep` newest. Returns the
    manifest's path."""
    _require_postgresql(url)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dump = folder / f"{PREFIX}{stamp}.dump"
    partial = dump.with_suffix(".dump.partial")
    target, env = _libpq(url)
    engine = create_engine(url, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as connection:
            # This transaction only holds the snapshot while pg_dump reads it: a
            # server's idle_in_transaction_session_timeout must not end it.
            connection.execute(
                text("SET LOCAL idle_in_transaction_session_timeout = 0")
            )
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar()
            counts = _count_rows(connection)
            revision = _revision(connection)
            started = time.monotonic()
            result = subprocess.run(  # noqa: S603 - our own arguments, no shell
                [
                    _tool("pg_dump"),
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    f"--file={partial}",
                    f"--dbname={target}",
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            seconds = time.monotonic() - started
            connection.rollback()
    finally:
        engine.dispose()
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {result.stderr.strip()[:300]}")
    partial.rename(dump)
    manifest = {
        "dump": dump.name,
        "sha256": _sha256(dump),
        "bytes": dump.stat().st_size,
        "taken_at": stamp,
        "dump_seconds": round(seconds, 2),
        "revision": revision,
        "tables": counts,
    }
    path = folder / f"{PREFIX}{stamp}.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    _keep_newest(folder, keep)
    return path


def _keep_newest(folder: Path, keep: int) -> None:
    manifests = sorted(folder.glob(f"{PREFIX}*.json"))
    for old in manifests[: max(0, len(manifests) - keep)]:
        (folder / old.name.replace(".json", ".dump")).unlink(missing_ok=True)
        old.unlink()


def newest_manifest(folder: Path) -> Path:
    manifests = sorted(folder.glob(f"{PREFIX}*.json"))
    if not manifests:
        raise BackupError(f"no backup in {folder} (run `portal backup --to {folder}`)")
    return manifests[-1]


# ---- the drill -----------------------------------------------------------------------


@dataclass
class DrillReport:
    manifest: str
    database: str
    restore_seconds: float = 0.0
    verify_seconds: float = 0.0
    audit_output: str = ""
    audit_ok: bool = False
    problems: list[str] = field(default_factory=list)
    tables: int = 0
    rows: int = 0

    @property
    def ok(self) -> bool:
        return self.audit_ok and not self.problems


def restore_drill(url: URL, folder: Path, keep_database: bool = False) -> DrillReport:
    """Restore the newest backup into a fresh database on the server of `url` and
    check it (see the module's docstring)."""
    _require_postgresql(url)
    manifest_path = newest_manifest(folder)
    manifest = json.loads(manifest_path.read_text())
    dump = folder / manifest["dump"]
    name = f"portal_drill_{manifest['taken_at'].lower()}"
    report = DrillReport(manifest=manifest_path.name, database=name)
    if not dump.exists() or _sha256(dump) != manifest["sha256"]:
        report.problems.append(f"{dump.name} is missing or not the file it was")
        return report
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    drill_url = url.set(database=name)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        _restore(dump, drill_url, report)
        _compare(drill_url, manifest, report)
        _verify_audit(drill_url, report)
    finally:
        if not keep_database:
            with admin.connect() as connection:
                connection.execute(
                    text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                )
        admin.dispose()
    return report


def _restore(dump: Path, drill_url: URL, report: DrillReport) -> None:
    target, env = _libpq(drill_url)
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - our own arguments, no shell
        [
            _tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            f"--dbname={target}",
            str(dump),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    report.restore_seconds = round(time.monotonic() - started, 2)
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()[:300]}")


def _compare(drill_url: URL, manifest: dict, report: DrillReport) -> None:
    engine = create_engine(drill_url)
    try:
        with engine.connect() as connection:
            counts = _count_rows(connection)
            revision = _revision(connection)
    finally:
        engine.dispose()
    expected = manifest["tables"]
    report.tables, report.rows = len(counts), sum(counts.values())
    if revision != manifest["revision"]:
        report.problems.append(
            f"migration {revision}, the backup was taken at {manifest['revision']}"
        )
    for name in sorted(set(expected) | set(counts)):
        want, got = expected.get(name), counts.get(name)
        if want != got:
            report.problems.append(f"table {name}: {got} rows, the backup had {want}")


def _verify_audit(drill_url: URL, report: DrillReport) -> None:
    """`portal audit verify` on the restored database, as a command of its own, with
    this installation's audit keys (inherited from the environment)."""
    env = dict(os.environ)
    env["PORTAL_DATABASE_URL"] = drill_url.render_as_string(hide_password=False)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "portal", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
    )
    report.verify_seconds = round(time.monotonic() - started, 2)
    report.audit_output = (result.stdout + result.stderr).strip()
    report.audit_ok = result.returncode == 0
