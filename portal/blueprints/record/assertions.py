"""SMART Backend Services' `private_key_jwt`: a client signs a short-lived JWT with its
private key (RS384 or ES384) and the token endpoint checks it against the public keys
(a JWKS) registered with the client. Nothing is fetched at run time.

An assertion is refused (401 invalid_client, nothing issued) when it is not signed by a
registered key, is expired or lives more than five minutes, names another audience,
or repeats a `jti` already used."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.record.clients import ClientError
from portal.blueprints.record.models import FhirAssertion, FhirClient
from portal.db import utcnow

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
KEY_TYPES = {"RS384": "RSA", "ES384": "EC"}
MAX_LIFETIME = timedelta(minutes=5)
LEEWAY = timedelta(seconds=30)  # clocks of the two hosts differ a little


def check_jwks(jwks: dict) -> dict:
    """A JWKS fit to register: public RSA or P-384 keys, each with a `kid`."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ClientError("invalid_client_metadata", "a JWKS needs a list of keys")
    kids = set()
    for key in keys:
        if not isinstance(key, dict) or not key.get("kid"):
            raise ClientError("invalid_client_metadata", "every key needs a kid")
        if any(part in key for part in ("d", "p", "q")):
            raise ClientError("invalid_client_metadata", "register public keys only")
        if key.get("kty") not in ("RSA", "EC") or (
            key.get("kty") == "EC" and key.get("crv") != "P-384"
        ):
            raise ClientError(
                "invalid_client_metadata", "keys must be RSA or EC on P-384"
            )
        try:
            jwt.PyJWK(key)
        except jwt.PyJWTError as problem:
            raise ClientError("invalid_client_metadata", str(problem)) from None
        kids.add(key["kid"])
    if len(kids) != len(keys):
        raise ClientError("invalid_client_metadata", "kids must differ")
    return {"keys": keys}


def client_for_assertion(assertion: str, token_url: str) -> FhirClient:
    """The registered client that signed this assertion for this token endpoint."""
    try:
        header = jwt.get_unverified_header(assertion)
        claimed = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _refused(None, "not a JWT") from None
    client = _registered(claimed.get("iss"))
    if client is None or not client.jwks:
        raise _refused(None, "no client with registered keys")
    key = _registered_key(client, header)
    try:
        claims = jwt.decode(
            assertion,
            key,
            algorithms=[header["alg"]],
            audience=token_url,
            issuer=client.client_id,
            leeway=LEEWAY,
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise _refused(client, "expired") from None
    except jwt.InvalidAudienceError:
        raise _refused(client, "another audience") from None
    except jwt.PyJWTError:
        raise _refused(client, "signature or claims not valid") from None
    _check_claims(client, claims)
    return client


def _registered(client_key) -> FhirClient | None:
    if not isinstance(client_key, str) or not client_key or len(client_key) > 64:
        return None
    return db.session.scalar(
        select(FhirClient).where(
            FhirClient.client_id == client_key, FhirClient.revoked_at.is_(None)
        )
    )


def _registered_key(client: FhirClient, header: dict):
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise _refused(client, "use RS384 or ES384")
    for key in client.jwks.get("keys", []):
        if key.get("kid") == kid and key.get("kty") == KEY_TYPES[alg]:
            return jwt.PyJWK(key, algorithm=alg).key
    raise _refused(client, "signed with a key not registered")


def _check_claims(client: FhirClient, claims: dict) -> None:
    if claims["sub"] != client.client_id:
        raise _refused(client, "sub must be the client_id")
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    now = utcnow()
    if expires > now + MAX_LIFETIME + LEEWAY:
        raise _refused(client, "lives more than five minutes")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti:
        raise _refused(client, "jti missing")
    jti_hash = hashlib.sha256(jti.encode()).hexdigest()
    db.session.execute(
        delete(FhirAssertion).where(
            FhirAssertion.client_id == client.id, FhirAssertion.expires_at <= now
        )
    )
    used = db.session.get(FhirAssertion, (client.id, jti_hash))
    if used is not None:
        raise _refused(client, "jti already used")
    try:
        with db.session.begin_nested():  # two requests racing with one jti: one wins
            db.session.add(
                FhirAssertion(
                    client_id=client.id, jti_hash=jti_hash, expires_at=expires + LEEWAY
                )
            )
    except IntegrityError:
        raise _refused(client, "jti already used") from None


def _refused(client: FhirClient | None, why: str) -> ClientError:
    audit(
        "token",
        "fhir_token",
        outcome=Outcome.DENIED,
        actor=client,
        detail=f"client assertion: {why}",
    )
    return ClientError("invalid_client", f"client assertion refused: {why}", 401)
