"""`portal fhir-client`: register, list and revoke the EHRs that read the FHIR API."""

from __future__ import annotations

import sys

import click
from sqlalchemy import or_, select

from portal import db


@click.group("fhir-client")
def fhir_client_group() -> None:
    """EHR clients of the FHIR API (OAuth2 client credentials)."""


@fhir_client_group.command("add")
@click.option(
    "--name", required=True, help="What patients see, e.g. 'County Clinic EHR'."
)
@click.option(
    "--program", "program_ref", required=True, help="Program id or exact name."
)
@click.option(
    "--scopes",
    default="system/*.read",
    show_default=True,
    help="Space-separated SMART scopes, e.g. 'system/Observation.read'.",
)
@click.option(
    "--jwks",
    "jwks_file",
    type=click.File("r"),
    help="A JSON file of the public keys (JWKS) the EHR signs its JWTs with "
    "(SMART Backend Services, private_key_jwt).",
)
def add_client(name: str, program_ref: str, scopes: str, jwks_file) -> None:
    """Register an EHR for a program and print its secret (shown this once only)."""

    def run():
        import json

        from portal.blueprints.programs.models import Program
        from portal.blueprints.record.assertions import check_jwks
        from portal.blueprints.record.clients import (
            ClientError,
            normalize_scopes,
            register_client,
        )
        from portal.blueprints.record.fhir.registry import all_types

        programs = db.session.scalars(
            select(Program).where(
                or_(Program.id == program_ref, Program.name == program_ref)
            )
        ).all()
        if len(programs) != 1:
            click.echo("No single program matches --program.", err=True)
            sys.exit(2)
        try:
            granted = normalize_scopes(scopes, set(all_types()))
        except ClientError as problem:
            click.echo(f"Scopes not accepted: {problem}", err=True)
            sys.exit(2)
        jwks = None
        if jwks_file is not None:
            try:
                jwks = check_jwks(json.load(jwks_file))
            except (ValueError, ClientError) as problem:
                click.echo(f"JWKS not accepted: {problem}", err=True)
                sys.exit(2)
        client, secret = register_client(name.strip(), programs[0], granted, jwks)
        db.session.commit()
        click.echo(f"client_id:     {client.client_id}")
        click.echo(f"client_secret: {secret}")
        click.echo(f"scopes:        {client.scopes}")
        if jwks:
            click.echo(f"keys:          {', '.join(k['kid'] for k in jwks['keys'])}")
        click.echo("Keep the secret safe: it is not stored and cannot be shown again.")

    run()


@fhir_client_group.command("list")
def list_clients() -> None:
    """Show registered clients (never their secrets)."""

    def run():
        from portal.blueprints.record.models import FhirClient

        for client in db.session.scalars(select(FhirClient).order_by(FhirClient.name)):
            state = "revoked" if client.revoked_at else "active"
            click.echo(
                f"{client.client_id}  {state:<7}  {client.name}  [{client.scopes}]"
            )

    run()


@fhir_client_group.command("revoke")
@click.argument("client_id")
def revoke(client_id: str) -> None:
    """Turn a client off; its tokens stop working at once."""

    def run():
        from portal.blueprints.record.clients import revoke_client
        from portal.blueprints.record.models import FhirClient

        client = db.session.scalar(
            select(FhirClient).where(FhirClient.client_id == client_id)
        )
        if client is None:
            click.echo("No such client.", err=True)
            sys.exit(2)
        revoke_client(client)
        db.session.commit()
        click.echo(f"revoked {client.client_id}")

    run()
