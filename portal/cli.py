"""The `portal` console command: demo, seed, migrate, audit, worker."""

from __future__ import annotations

import functools
import os
import sys

import click
from flask import current_app

from portal import db


def with_appcontext(command):
    """Run a command inside a freshly made application's context."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        from portal import create_app

        with create_app().app_context():
            return command(*args, **kwargs)

    return run


@click.group()
def main() -> None:
    """Operate the portal."""


def register_cli(app) -> None:
    """Commands live on `main`; nothing app-specific to add yet."""


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
    click.echo("Demo data " + ("created." if created else "already there."))
    click.echo(
        f"Sign in at http://{host}:{port} with any of these (password {DEMO_PASSWORD}):"
    )
    from portal.demo import DEMO_ACCOUNTS

    for email, role, _name in DEMO_ACCOUNTS:
        click.echo(f"  {email:<26} {role.label}")
    click.echo(
        f"Staff second factor: TOTP secret {DEMO_TOTP_SECRET} (the demo's code page "
        "also shows the current code)."
    )
    if no_serve:
        return
    _serve(app, host, port)


def _serve(app, host: str, port: int) -> None:
    from werkzeug.serving import run_simple

    from portal.worker import start_background_worker

    start_background_worker(app)
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@main.command("seed")
@click.option("--patients", default=1000, show_default=True, type=int)
@click.option("--programs", default=20, show_default=True, type=int)
@with_appcontext
def seed_command(patients: int, programs: int) -> None:
    """Make a deterministic synthetic data set at scale (for benchmarks)."""
    from portal.demo import seed_scale
    from portal.migrate import upgrade

    upgrade(_url())
    made = seed_scale(db.session, patients=patients, programs=programs)
    _refresh_planner_statistics()
    click.echo(f"seeded {made} patients across {programs} programs")


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
    """Check the whole chain; name the first altered or missing row."""
    from portal.audit import seal_chain, verify_chain

    result = verify_chain(db.session)
    if not result.ok:
        click.echo(
            f"AUDIT LOG BROKEN: {result.problem} ({result.checked} rows checked "
            "before it)",
            err=True,
        )
        sys.exit(1)
    while seal_chain(db.session):
        pass
    result = verify_chain(db.session)
    status = "intact" if result.ok else f"BROKEN: {result.problem}"
    click.echo(f"audit log {status}: {result.checked} rows checked")
    sys.exit(0 if result.ok else 1)


@main.command("worker")
@click.option("--once", is_flag=True, help="Do one round of work and stop.")
@with_appcontext
def worker_command(once: bool) -> None:
    """Run background work: seal the audit chain, prune expired sessions."""
    from portal.worker import run_worker

    run_worker(current_app._get_current_object(), once=once)


# The record feature's EHR clients (`portal fhir-client add|list|revoke`).
from portal.blueprints.record.cli import fhir_client_group  # noqa: E402

main.add_command(fhir_client_group)
