"""EHR clients: registration, OAuth2 client credentials, SMART scopes and bearer tokens.

Secrets and tokens are 256-bit random values, so a plain SHA-256 is enough to store
them: nothing can be guessed from the hash and nobody has to wait on a slow hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.programs.models import Program
from portal.blueprints.record.models import FhirClient, FhirToken
from portal.db import utcnow

TOKEN_SECONDS = 300
SCOPE_RE = re.compile(
    r"^system/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<access>read|rs|r|s|\*)$"
)


class ClientError(ValueError):
    """An OAuth2 error: `code` is the RFC 6749 error, the message its description."""

    def __init__(self, code: str, description: str, status: int = 400):
        super().__init__(description)
        self.code, self.status = code, status


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalize_scopes(raw: str, known_types: set[str]) -> list[str]:
    """Check a space-separated list of SMART system scopes; read access only."""
    scopes = []
    for scope in raw.replace(",", " ").split():
        match = SCOPE_RE.match(scope)
        if not match or (match["type"] != "*" and match["type"] not in known_types):
            raise ClientError("invalid_scope", f"unknown scope {scope!r}")
        scopes.append(scope)
    if not scopes:
        raise ClientError("invalid_scope", "at least one scope is needed")
    return sorted(set(scopes))


def scope_allows(scopes: str, resource_type: str, interaction: str = "read") -> bool:
    """Whether granted scopes let the client read (r) or search (s) this type."""
    wanted = "r" if interaction == "read" else "s"
    return _held(scopes.split(), resource_type, wanted)


def register_client(
    name: str, program: Program, scopes: list[str], jwks: dict | None = None
) -> tuple[FhirClient, str]:
    """Register an EHR for a program, with the public keys it signs assertions with
    if it has any; returns the client and its secret (shown once)."""
    secret = secrets.token_urlsafe(32)
    client = FhirClient(
        name=name,
        program_id=program.id,
        client_id=f"ehr-{secrets.token_hex(8)}",
        secret_hash=digest(secret),
        scopes=" ".join(scopes),
        jwks=jwks,
    )
    db.session.add(client)
    db.session.flush()
    audit("create", "fhir_client", object_id=client.id, actor=client)
    return client, secret


def revoke_client(client: FhirClient) -> None:
    """Turn a client off: its tokens stop working at once."""
    client.revoked_at = utcnow()
    db.session.execute(delete(FhirToken).where(FhirToken.client_id == client.id))
    audit("update", "fhir_client", object_id=client.id, actor=client, detail="revoked")


@dataclass(frozen=True)
class IssuedToken:
    value: str
    scopes: str
    expires_in: int


def issue_token(client_key: str, secret: str, requested: str | None) -> IssuedToken:
    """Client credentials grant: check the secret, narrow the scopes, mint a token."""
    client = db.session.scalar(
        select(FhirClient).where(
            FhirClient.client_id == client_key, FhirClient.revoked_at.is_(None)
        )
    )
    if client is None or not hmac.compare_digest(client.secret_hash, digest(secret)):
        audit("token", "fhir_token", outcome=Outcome.DENIED, actor=None)
        raise ClientError("invalid_client", "client authentication failed", 401)
    return mint_token(client, requested)


def mint_token(client: FhirClient, requested: str | None) -> IssuedToken:
    """A bearer token for an authenticated client (secret or signed assertion)."""
    granted = _grant(client, requested)
    value, now = secrets.token_urlsafe(32), utcnow()
    lifetime = current_app.config.get("FHIR_TOKEN_SECONDS", TOKEN_SECONDS)
    db.session.execute(
        delete(FhirToken).where(
            FhirToken.client_id == client.id, FhirToken.expires_at <= now
        )
    )
    db.session.add(
        FhirToken(
            token_hash=digest(value),
            client_id=client.id,
            scopes=granted,
            issued_at=now,
            expires_at=now + timedelta(seconds=lifetime),
        )
    )
    audit("token", "fhir_token", object_id=client.id, actor=client, detail=granted)
    return IssuedToken(value, granted, lifetime)


def _grant(client: FhirClient, requested: str | None) -> str:
    """The requested scopes the client holds (all it holds when none are asked)."""
    if not requested:
        return client.scopes
    granted = []
    for scope in requested.split():
        match = SCOPE_RE.match(scope)
        if not match:
            raise ClientError("invalid_scope", f"unknown scope {scope!r}")
        held = _held(client.scopes.split(), match["type"], match["access"])
        if held:
            granted.append(scope)
    if not granted:
        raise ClientError("invalid_scope", "none of the requested scopes is allowed")
    return " ".join(granted)


def _held(held: list[str], resource_type: str, access: str) -> bool:
    """A held scope covers the requested type and access (read, rs, r or s)."""
    for scope in held:
        match = SCOPE_RE.match(scope)
        if (
            match
            and match["type"] in ("*", resource_type)
            and match["access"] in ("*", "read", "rs", access)
        ):
            return True
    return False


@dataclass(frozen=True)
class Caller:
    """The authenticated client of one FHIR request and its program."""

    client: FhirClient
    program: Program
    scopes: str


def authenticate_bearer(header: str | None) -> Caller | None:
    """The client behind a live bearer token, or None (unknown, expired, revoked)."""
    if not header or not header.startswith("Bearer "):
        return None
    token = header.removeprefix("Bearer ").strip()
    if not token:
        return None
    row = db.session.execute(
        select(FhirToken.scopes, FhirClient, Program)
        .join(FhirClient, FhirToken.client_id == FhirClient.id)
        .join(Program, FhirClient.program_id == Program.id)
        .where(
            FhirToken.token_hash == digest(token),
            FhirToken.expires_at > utcnow(),
            FhirClient.revoked_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    scopes, client, program = row
    return Caller(client, program, scopes)
