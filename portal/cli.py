"""The `portal` console command: demo, seed, migrate, audit, worker."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click
from flask import Flask, current_app

from portal import db
from portal.config import ConfigError


def with_appcontext(command):
    """Run a command inside the context of the app handed in (as the tests do), or
    of a freshly made one."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        from portal import create_app

        given = click.get_current_context().find_object(Flask)
        with (given or create_app()).app_context():
            return command(*args, **kwargs)

    return run


class PortalCommands(click.Group):
    """The core commands, plus those the features add to ``app.cli`` at start-up.

    A feature's command runs inside the context of the app that supplied it, so the
    command line needs no import of any feature.
    """

    def main(self, *args, **kwargs):
        """Refuse a bad configuration in one plain line that names the setting, never
        a traceback (whose frames could show the values)."""
        try:
            return super().main(*args, **kwargs)
        except ConfigError as error:
            click.echo(f"portal: refusing to start: {error}", err=True)
            sys.exit(2)

    def _app(self, ctx: click.Context):
        if isinstance(ctx.obj, Flask):  # an app handed in, as the tests do
            return ctx.obj
        if "app" not in ctx.meta:
            from portal import create_app

            ctx.meta["app"] = create_app()
        return ctx.meta["app"]

    def list_commands(self, ctx: click.Context) -> list[str]:
        features = self._app(ctx).cli.list_commands(ctx)
        return sorted({*super().list_commands(ctx), *features})

    def get_command(self, ctx: click.Context, name: str):
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        app = self._app(ctx)
        command = app.cli.get_command(ctx, name)
        if command is not None:
            ctx.with_resource(app.app_context())
        return command


@click.group(cls=PortalCommands)
def main() -> None:
    """Operate the portal."""


def _url() -> str:
    return str(
        current_app.extensions["engine"].url.render_as_string(hide_password=False)
    )


@main.command("migrate")
@with_appcontext
def migrate_command() -> None:
    """Bring the database schema up to date."""
    from portal.migrate import upgrade

    upgrade(_url())
    click.echo("database is at the newest revision")


@main.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Create the demo data and stop.")
def demo_command(host: str, port: int, no_serve: bool) -> None:
    """Create the demo program and run the portal with it (never in production)."""
    if os.environ.get("PORTAL_ENV") == "production":
        click.echo("The demo refuses to run with PORTAL_ENV=production.", err=True)
        sys.exit(2)
    os.environ["PORTAL_DEMO"] = "1"
    from portal import create_app
    from portal.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, create_demo
    from portal.migrate import upgrade

    app = create_app()
    with app.app_context():
        upgrade(_url())
        created = create_demo(db.session)
        db.session.commit()
        if created:
            _check_the_chain()
    click.echo("Demo data " + ("created." if created else "already there."))
    click.echo(
        f"Sign in at http://{host}:{port} with any of these (password {DEMO_PASSWORD}):"
    )
    from portal.demo import DEMO_ACCOUNTS

    for email, role, _name in DEMO_ACCOUNTS:
        click.echo(f"  {email:<26} {role.label}")
    click.echo(f"  {'(617) 555-0142':<26} Patient with no email (signs in by phone)")
    click.echo(f"  {'patient11@demo.test':<26} Patient discharged to step-down")
    click.echo(
        f"Staff second factor: TOTP secret {DEMO_TOTP_SECRET} (the demo's code page "
        "also shows the current code)."
    )
    if no_serve:
        return
    _serve(app, host, port)


def _check_the_chain() -> None:
    """Seal the demo's audit rows and check the chain once, as `portal audit verify`
    does, so that the audit report has a check to show."""
    from portal.audit import record_verification, seal_chain, verify_chain

    while seal_chain(db.session):
        pass
    record_verification(verify_chain(db.session))
    db.session.commit()


def _serve(app, host: str, port: int) -> None:
    from werkzeug.serving import run_simple

    from portal.worker import start_background_worker

    start_background_worker(app)
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@main.command("seed")
@click.option("--patients", default=1000, show_default=True, type=int)
@click.option("--programs", default=20, show_default=True, type=int)
@click.option(
    "--history",
    is_flag=True,
    help="Make the patients everyone enrolled over the last weeks (stays of 4 to 8 "
    "weeks) with their attendance, check-ins, questionnaires, alerts, requests, "
    "messages and audit rows; each program gets a director. Slower.",
)
@click.option(
    "--weeks", default=52, show_default=True, type=int, help="With --history."
)
@with_appcontext
def seed_command(patients: int, programs: int, history: bool, weeks: int) -> None:
    """Make a deterministic synthetic data set at scale (for benchmarks)."""
    from portal.migrate import upgrade
    from portal.seed import seed_scale

    upgrade(_url())
    made = seed_scale(
        db.session, patients=patients, programs=programs, history=history, weeks=weeks
    )
    _refresh_planner_statistics()
    span = f" with {weeks} weeks of history" if history else ""
    click.echo(f"seeded {made} patients across {programs} programs{span}")


def _refresh_planner_statistics() -> None:
    """ANALYZE after a bulk load, as one does before serving from it: PostgreSQL's
    autovacuum may not get to new tables for minutes, and until it does the planner
    guesses row counts (for Today's query it chose hash joins over whole tables, which
    tripled its cost)."""
    engine = db.session.get_bind()
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()


@main.group("audit")
def audit_group() -> None:
    """Audit log operations."""


@audit_group.command("seal")
@with_appcontext
def audit_seal() -> None:
    """Link new audit rows into the hash chain."""
    from portal.audit import seal_chain

    total = 0
    while sealed := seal_chain(db.session):
        total += sealed
    click.echo(f"sealed {total} rows")


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check the whole chain; list every altered, unlinked or missing row."""
    from portal.audit import record_verification, seal_chain, verify_chain

    result = verify_chain(db.session)
    if result.ok:  # link the newest rows too, onto a chain known to be sound
        while seal_chain(db.session):
            pass
        result = verify_chain(db.session)
    record_verification(result)  # the audit report shows the newest check
    db.session.commit()
    for chain_break in result.breaks:
        click.echo(f"BROKEN: {chain_break}", err=True)
    if result.checked and len(result.breaks) >= result.checked:
        click.echo(
            "Every row fails: is PORTAL_AUDIT_KEY (and PORTAL_AUDIT_KEY_SINCE) the "
            "key these rows were sealed with?",
            err=True,
        )
    status = "intact" if result.ok else f"BROKEN in {len(result.breaks)} places"
    click.echo(
        f"audit log {status}: {result.checked} rows checked, {result.unsealed} not "
        f"sealed yet; the next row sealed gets sequence {result.head_seq + 1}"
    )
    sys.exit(0 if result.ok else 1)


@main.command("backup")
@click.option(
    "--to",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the dumps (e.g. /var/backups/portal).",
)
@click.option("--keep", default=14, show_default=True, help="Dumps to keep.")
@with_appcontext
def backup_command(folder: Path, keep: int) -> None:
    """Dump the database with the row count of every table (PostgreSQL)."""
    from portal.backup import BackupError, take_backup

    try:
        manifest = take_backup(current_app.extensions["engine"].url, folder, keep)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    facts = json.loads(manifest.read_text())
    click.echo(
        f"backup {facts['dump']}: {facts['bytes']} bytes in {facts['dump_seconds']} s, "
        f"{sum(facts['tables'].values())} rows in {len(facts['tables'])} tables, "
        f"migration {facts['revision']}"
    )


@main.command("restore-drill")
@click.option(
    "--from",
    "folder",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of the dumps `portal backup` wrote.",
)
@click.option("--keep-database", is_flag=True, help="Leave the restored database.")
@with_appcontext
def restore_drill_command(folder: Path, keep_database: bool) -> None:
    """Restore the newest dump into a fresh database and prove it whole."""
    from portal.backup import BackupError, restore_drill

    try:
        report = restore_drill(
            current_app.extensions["engine"].url, folder, keep_database
        )
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"restored {report.manifest} into {report.database} in "
        f"{report.restore_seconds} s: {report.rows} rows in {report.tables} tables"
    )
    click.echo(
        f"portal audit verify ({report.verify_seconds} s): {report.audit_output}"
    )
    for problem in report.problems:
        click.echo(f"DIFFERS: {problem}", err=True)
    click.echo("drill passed" if report.ok else "DRILL FAILED")
    sys.exit(0 if report.ok else 1)


@main.command("worker")
@click.option("--once", is_flag=True, help="Do one round of work and stop.")
@with_appcontext
def worker_command(once: bool) -> None:
    """Run background work: pushes, reminders, escalations, pages, audit sealing."""
    from portal.worker import run_worker

    _log_json_lines()
    run_worker(current_app._get_current_object(), once=once)


def _log_json_lines() -> None:
    """The worker's lines as JSON on stderr (the journal), unless logging is set up."""
    import logging

    from portal.logs import JsonLines

    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root.addHandler(handler)
    root.setLevel(os.environ.get("PORTAL_LOG_LEVEL", "INFO").upper())
