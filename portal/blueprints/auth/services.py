"""Password hashing, second factor, enrollment codes and session ending."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import delete, or_, select, update

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.auth.models import (
    EnrollmentCode,
    User,
    WebSession,
)
from portal.db import utcnow
from portal.phones import sign_in_phone

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud at a desk

_hashers: dict[str, PasswordHasher] = {}


def hasher() -> PasswordHasher:
    """Argon2id; the 'test' profile is cheap and exists only for the test suite."""
    profile = current_app.config["ARGON2_PROFILE"]
    if profile not in _hashers:
        _hashers[profile] = (
            PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
            if profile == "test"
            else PasswordHasher()
        )
    return _hashers[profile]


def hash_password(password: str) -> str:
    return hasher().hash(password)


def _dummy_hash() -> str:
    key = "dummy_hash"
    if key not in current_app.extensions:
        current_app.extensions[key] = hash_password(secrets.token_hex(16))
    return current_app.extensions[key]


def normalize_email(email: str) -> str:
    return email.strip().lower()


def find_account(name: str) -> tuple[str, User | None]:
    """The account someone signs in to with an email or a mobile number, and the
    name its sign-in tries are counted under: the account's email when it has one,
    so that the email and the number share one count. One statement either way,
    whether or not the account exists."""
    phone = sign_in_phone(name)
    where = User.phone == phone if phone else User.email == normalize_email(name)
    user = db.session.scalar(select(User).where(where))
    if user is not None:
        return user.sign_in_name, user
    return phone or normalize_email(name), None


def authenticate(name: str, password: str) -> User | None:
    """The active user for these credentials; same work whether or not they exist."""
    return check_password(find_account(name)[1], password)


def check_password(user: User | None, password: str) -> User | None:
    """`user` when the password is theirs and they may sign in; the same work
    whether or not there is a user."""
    stored = user.password_hash if user and user.password_hash else _dummy_hash()
    try:
        hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active or not user.password_hash:
        return None
    if hasher().check_needs_rehash(stored):
        user.password_hash = hash_password(password)
    return user


# ---- second factor -------------------------------------------------------------------


def start_totp_enrollment(user: User) -> str:
    if not user.totp_secret or user.totp_enabled is False:
        user.totp_secret = user.totp_secret or pyotp.random_base32(32)
    return user.totp_secret


def totp_uri(user: User) -> str:
    issuer = current_app.config["APP_NAME"]
    return pyotp.TOTP(user.totp_secret).provisioning_uri(
        name=user.sign_in_name, issuer_name=issuer
    )


def verify_totp(user: User, code: str) -> bool:
    """Accept the current or adjacent 30-second step, and never the same step twice:
    the step is claimed by one conditional UPDATE, so of two sign-ins sending the
    same code at the same moment exactly one gets in."""
    if not user.totp_secret:
        return False
    totp = pyotp.TOTP(user.totp_secret)
    code = code.replace(" ", "").strip()
    now = utcnow()
    for drift in (0, -1, 1):
        moment = now + timedelta(seconds=30 * drift)
        if totp.at(moment) == code:
            return _claim_totp_step(user, int(moment.timestamp()) // 30)
    return False


def _claim_totp_step(user: User, step: int) -> bool:
    claimed = db.session.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(user, ["totp_last_step"])
    return claimed.rowcount == 1


# ---- enrollment codes (first password and resets) ------------------------------------


def code_digest(code: str) -> str:
    cleaned = code.replace("-", "").replace(" ", "").upper()
    return hashlib.sha256(cleaned.encode()).hexdigest()


def issue_enrollment_code(issuer: User, user: User) -> str:
    """Make a one-time code to set a password; older codes stop working."""
    for old in db.session.scalars(
        select(EnrollmentCode).where(
            EnrollmentCode.user_id == user.id, EnrollmentCode.used_at.is_(None)
        )
    ):
        old.used_at = utcnow()
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    hours = current_app.config["ENROLLMENT_CODE_HOURS"]
    db.session.add(
        EnrollmentCode(
            user_id=user.id,
            code_hash=code_digest(raw),
            issued_by_id=issuer.id,
            expires_at=utcnow() + timedelta(hours=hours),
        )
    )
    audit(
        "issue_code",
        "account",
        patient_id=_patient_id(user),
        object_id=user.id,
        actor=issuer,
    )
    return f"{raw[:5]}-{raw[5:]}"


def redeem_enrollment_code(name: str, code: str, password: str) -> User | None:
    """Set a password with a valid, unused, unexpired code for this email or mobile
    number; else None."""
    record = check_enrollment_code(name, code)
    if record is None:
        hash_password(password)  # same cost either way: no timing hint
        return None
    user = db.session.get(User, record.user_id)  # read with the code: no statement
    record.used_at = utcnow()
    set_password(user, password)
    audit(
        "set_password",
        "account",
        patient_id=_patient_id(user),
        object_id=user.id,
        actor=user,
    )
    return user


def _is_named(user: User, name: str) -> bool:
    """Whether `name` (an email or a mobile number) is this account's."""
    phone = sign_in_phone(name)
    if phone:
        return user.phone == phone
    return user.email is not None and user.email == normalize_email(name)


def check_enrollment_code(name: str, code: str) -> EnrollmentCode | None:
    """The valid, unused, unexpired code of the account named by `name` (an email
    or mobile number), without using it; else None."""
    record = db.session.scalar(
        select(EnrollmentCode).where(EnrollmentCode.code_hash == code_digest(code))
    )
    user = db.session.get(User, record.user_id) if record else None
    if (
        record is None
        or user is None
        or record.used_at is not None
        or record.expires_at <= utcnow()
        or not _is_named(user, name)
        or not user.is_active
    ):
        return None
    return record


def set_password(user: User, password: str, keep: str | None = None) -> None:
    """Store a new hash and end every other session of this person (all but the
    session whose key is `keep`)."""
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    end_all_sessions(user, keep=keep)


def end_all_sessions(user: User, keep: str | None = None) -> None:
    query = delete(WebSession).where(WebSession.user_id == user.id)
    if keep is not None:
        query = query.where(WebSession.id_hash != keep)
    db.session.execute(query)


def deactivate_user(actor: User, user: User) -> None:
    user.is_active = False
    end_all_sessions(user)
    audit(
        "deactivate",
        "account",
        patient_id=_patient_id(user),
        object_id=user.id,
        actor=actor,
    )


def welcome_once(user: User) -> bool:
    """True the first time a patient signs in (the welcome is shown once; the
    account page links to it for later)."""
    if user.is_staff or user.welcome_seen_at is not None:
        return False
    user.welcome_seen_at = utcnow()
    return True


def record_sign_in(user: User | None, action: str, ok: bool) -> None:
    audit(
        action,
        "sign_in",
        actor=user,
        patient_id=_patient_id(user) if user else None,
        outcome=Outcome.ALLOWED if ok else Outcome.DENIED,
    )


def _patient_id(user: User | None) -> str | None:
    return user.id if user is not None and not user.is_staff else None


def set_language(user: User, language: str) -> None:
    """Keep the language a patient chose on their account, audited."""
    if user.preferred_language == language:
        return
    user.preferred_language = language
    audit(
        "set_language",
        "account",
        patient_id=user.id,
        object_id=user.id,
        detail=language,
    )
