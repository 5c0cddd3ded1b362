"""A check-in or questionnaire kept on the phone while there was no signal is sent later
by the service worker without any cookie: a signed token in the form names the patient
and the sending's key, so it is stored as theirs even when their session has ended or
someone else has signed in on the same phone, and never as anyone else. It is good for
a week; the key makes it single-use (a second sending under it is a resend)."""

from __future__ import annotations

from datetime import timedelta

from flask import Request, current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from portal import db
from portal.blueprints.auth.models import User
from portal.security import Role

SALT = "portal.queued-sending"
VALID_FOR = timedelta(days=7)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def sending_token(patient_id: str, key: str) -> str:
    """The token put in a check-in or questionnaire form beside its key."""
    return _serializer().dumps({"p": patient_id, "k": key})


def patient_id_of_sending(form) -> str | None:
    """The patient id a sending's token names, when the token is genuine, less than a
    week old and made for this sending's key; else None. The signature alone: no
    database (held.py uses it while the database is down)."""
    token, key = form.get("sender", ""), form.get("idempotency_key")
    try:
        named = _serializer().loads(token, max_age=VALID_FOR.total_seconds())
    except BadSignature:  # forged, altered or expired
        return None
    if not isinstance(named, dict) or not key or named.get("k") != key:
        return None
    return named.get("p") if isinstance(named.get("p"), str) else None


def patient_of_sending(request: Request) -> User | None:
    """The active patient a queued sending's token names (see above); else None."""
    patient_id = patient_id_of_sending(request.form)
    if patient_id is None:
        return None
    patient = db.session.get(User, patient_id)
    if patient is None or not patient.is_active or patient.role is not Role.PATIENT:
        return None
    return patient
