"""Passkeys (WebAuthn) with the `webauthn` package: registration, sign-in for
patients instead of the password, and the second factor for staff beside TOTP.

Challenges are kept on the server (their SHA-256), live PASSKEY_CHALLENGE_SECONDS
and are claimed once by a conditional UPDATE, so a replayed or late answer finds
nothing to claim. Every refusal gets one plain message and a `denied` audit row that
says why (never the credential or a key)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import webauthn
from flask import current_app, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.auth.models import PasskeyChallenge, PasskeyCredential, User
from portal.db import utcnow

REFUSED = _l("That passkey did not work. Try again, or sign in with your password.")
MAX_PASSKEYS = 10


class PasskeyRefused(Exception):
    """A ceremony refused; `reason` goes to the audit log, never to the page."""

    def __init__(self, reason: str, user: User | None = None) -> None:
        super().__init__(reason)
        self.reason, self.user = reason, user


@dataclass(frozen=True)
class Verified:
    user: User
    credential: PasskeyCredential


# ---- the relying party ---------------------------------------------------------------


def rp_id() -> str:
    return current_app.config["WEBAUTHN_RP_ID"]


def expected_origin() -> str:
    """The configured origin, else this request's own when its host is the relying
    party's id or under it (the demo's http://localhost:<port>)."""
    configured = current_app.config.get("WEBAUTHN_ORIGIN")
    if configured:
        return configured
    origin = request.host_url.rstrip("/")
    host = urlsplit(origin).hostname or ""
    if host != rp_id() and not host.endswith("." + rp_id()):
        raise PasskeyRefused("the page's host is not the relying party's")
    return origin


# ---- challenges ----------------------------------------------------------------------


def _digest(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def _keep_challenge(challenge: bytes, purpose: str, user: User | None) -> None:
    seconds = current_app.config["PASSKEY_CHALLENGE_SECONDS"]
    db.session.add(
        PasskeyChallenge(
            challenge_hash=_digest(challenge),
            purpose=purpose,
            user_id=user.id if user else None,
            expires_at=utcnow() + timedelta(seconds=seconds),
        )
    )


def _claim_challenge(client_data_json: bytes, purpose: str) -> PasskeyChallenge:
    """The stored challenge the browser signed, claimed once; refused when it is
    unknown, for another ceremony, already used or expired."""
    try:
        challenge = parse_client_data_json(client_data_json).challenge
    except (WebAuthnException, ValueError, TypeError) as error:
        raise PasskeyRefused("unreadable client data") from error
    stored = db.session.scalar(
        select(PasskeyChallenge).where(
            PasskeyChallenge.challenge_hash == _digest(challenge)
        )
    )
    if stored is None or stored.purpose != purpose:
        raise PasskeyRefused("unknown challenge")
    claimed = db.session.execute(
        update(PasskeyChallenge)
        .where(PasskeyChallenge.id == stored.id, PasskeyChallenge.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise PasskeyRefused("challenge already used (replayed)")
    if stored.expires_at <= utcnow():
        raise PasskeyRefused("challenge expired")
    stored.challenge = challenge  # for the library's own check
    return stored


def prune_challenges() -> int:
    """Delete challenges that can no longer be used (worker task)."""
    cutoff = utcnow() - timedelta(hours=1)
    result = db.session.execute(
        delete(PasskeyChallenge).where(PasskeyChallenge.expires_at < cutoff)
    )
    return result.rowcount or 0


# ---- registration --------------------------------------------------------------------


def passkeys_of(user: User) -> list[PasskeyCredential]:
    return list(
        db.session.scalars(
            select(PasskeyCredential)
            .where(PasskeyCredential.user_id == user.id)
            .order_by(PasskeyCredential.created_at)
        )
    )


def registration_options(user: User) -> str:
    """Options for navigator.credentials.create(), as JSON; the challenge is kept."""
    existing = passkeys_of(user)
    options = webauthn.generate_registration_options(
        rp_id=rp_id(),
        rp_name=current_app.config["APP_NAME"],
        user_id=user.id.encode(),
        # The authenticator shows this name: the account's id for patients, so no
        # email or number is stored on a shared phone's passkey list.
        user_name=user.email if user.is_staff and user.email else user.display_name,
        user_display_name=user.display_name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(c.credential_id))
            for c in existing
        ],
    )
    _keep_challenge(options.challenge, "register", user)
    return webauthn.options_to_json(options)


def register(user: User, credential_json: str) -> PasskeyCredential:
    """Verify the new credential against a challenge made for this user; store it."""
    try:
        credential = json.loads(credential_json)
        client_data = base64url_to_bytes(credential["response"]["clientDataJSON"])
    except (ValueError, KeyError, TypeError) as error:
        raise PasskeyRefused("unreadable registration", user) from error
    stored = _claim_challenge(client_data, "register")
    if stored.user_id != user.id:
        raise PasskeyRefused("registration challenge of another account", user)
    if len(passkeys_of(user)) >= MAX_PASSKEYS:
        raise PasskeyRefused("too many passkeys", user)
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=stored.challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
        )
    except WebAuthnException as error:
        raise PasskeyRefused(
            f"registration not verified: {error}"[:120], user
        ) from error
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.session.scalar(
        select(PasskeyCredential.id).where(
            PasskeyCredential.credential_id == credential_id
        )
    ):
        raise PasskeyRefused("credential already registered", user)
    passkey = PasskeyCredential(
        user_id=user.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
    )
    db.session.add(passkey)
    db.session.flush()
    audit(
        "add_passkey",
        "account",
        actor=user,
        patient_id=_patient_id(user),
        object_id=passkey.id,
    )
    return passkey


def remove_passkey(user: User, passkey_id: str) -> bool:
    passkey = db.session.get(PasskeyCredential, passkey_id)
    if passkey is None or passkey.user_id != user.id:
        return False
    db.session.delete(passkey)
    audit(
        "remove_passkey",
        "account",
        actor=user,
        patient_id=_patient_id(user),
        object_id=passkey_id,
    )
    return True


# ---- sign-in and the second factor ---------------------------------------------------


def sign_in_options(user: User | None = None) -> str:
    """Options for navigator.credentials.get(): any passkey of this site (patients'
    sign-in), or only `user`'s (a staff member's second factor)."""
    allow = (
        [
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(c.credential_id))
            for c in passkeys_of(user)
        ]
        if user is not None
        else []
    )
    options = webauthn.generate_authentication_options(
        rp_id=rp_id(),
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    _keep_challenge(options.challenge, "sign_in", user)
    return webauthn.options_to_json(options)


def verify_assertion(
    credential_json: str, expected_user: User | None = None
) -> Verified:
    """The account and passkey of a valid assertion, its challenge claimed once;
    PasskeyRefused for anything else. With `expected_user` (a second factor) the
    passkey must be theirs, and the challenge made for them."""
    try:
        credential = parse_authentication_credential_json(credential_json)
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise PasskeyRefused("unreadable assertion", expected_user) from error
    stored = _claim_challenge(credential.response.client_data_json, "sign_in")
    passkey = db.session.scalar(
        select(PasskeyCredential).where(
            PasskeyCredential.credential_id == bytes_to_base64url(credential.raw_id)
        )
    )
    if passkey is None:
        raise PasskeyRefused("unknown passkey", expected_user)
    owner = db.session.get(User, passkey.user_id)
    if expected_user is not None and (
        passkey.user_id != expected_user.id or stored.user_id != expected_user.id
    ):
        raise PasskeyRefused("a passkey of another account", expected_user)
    if stored.user_id is not None and stored.user_id != passkey.user_id:
        raise PasskeyRefused("a passkey of another account", owner)
    user_handle = credential.response.user_handle
    if user_handle is not None and user_handle != owner.id.encode():
        raise PasskeyRefused("the passkey names another account", owner)
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=stored.challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
        )
    except WebAuthnException as error:
        reason = str(error)
        if "sign count" in reason.lower():
            reason = "sign count went back: a cloned authenticator?"
        raise PasskeyRefused(reason[:120], owner) from error
    _check_sign_count(passkey, verified.new_sign_count, owner)
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = utcnow()
    if not owner.is_active:
        raise PasskeyRefused("account turned off", owner)
    return Verified(owner, passkey)


def _check_sign_count(passkey: PasskeyCredential, new: int, owner: User) -> None:
    """A counter that does not go up (when the authenticator keeps one) means a
    copy of the passkey was used: refuse it (the library checks this too)."""
    if (passkey.sign_count or new) and new <= passkey.sign_count:
        raise PasskeyRefused("sign count went back: a cloned authenticator?", owner)


def record_refusal(error: PasskeyRefused, action: str) -> None:
    user = error.user
    audit(
        action,
        "sign_in",
        actor=user,
        patient_id=_patient_id(user),
        outcome=Outcome.DENIED,
        detail=error.reason[:200],
    )


def _patient_id(user: User | None) -> str | None:
    return user.id if user is not None and not user.is_staff else None
