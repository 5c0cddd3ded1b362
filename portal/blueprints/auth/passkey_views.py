"""Passkeys: add and remove them on the account page, sign in with one (patients),
or use one as the second step (staff). The browser's side is static/passkeys.js;
these routes answer it with JSON."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from portal import db
from portal.blueprints.auth import passkeys, services, throttle
from portal.blueprints.auth.models import EnrollmentCode, User
from portal.blueprints.auth.passkeys import PasskeyRefused
from portal.blueprints.auth.sessions import sign_session_in
from portal.blueprints.auth.views import CODE_REFUSED
from portal.db import is_id, utcnow
from portal.security import Permission, current_actor, public, requires

bp = Blueprint("passkeys", __name__)

STAFF_FIRST = _l(
    "Staff sign in with their password first. Then they can use their passkey "
    "instead of the 6-digit code."
)


def _options(body: str):
    return Response(body, mimetype="application/json")


def _refused(error: PasskeyRefused, action: str, message=passkeys.REFUSED):
    passkeys.record_refusal(error, action)
    return jsonify(error=str(message)), 400


@bp.route("/passkeys/register/options", methods=["POST"])
@requires(Permission.SIGNED_IN)
def register_options():
    """A challenge to make a passkey for the signed-in account."""
    return _options(passkeys.registration_options(current_actor()))


@bp.route("/passkeys/register", methods=["POST"])
@requires(Permission.SIGNED_IN)
def register():
    """Store the new passkey when the authenticator's answer checks out."""
    user = current_actor()
    try:
        passkeys.register(user, request.get_data(as_text=True))
    except PasskeyRefused as error:
        return _refused(error, "add_passkey_refused")
    flash(
        gettext(
            "Your passkey is saved. Next time, sign in with it: no password needed."
        )
    )
    return jsonify(redirect=url_for("auth.account"))


@bp.route("/passkeys/<passkey_id>/remove", methods=["POST"])
@requires(Permission.SIGNED_IN)
def remove(passkey_id: str):
    """Remove one of my passkeys; another person's answers 404."""
    if not is_id(passkey_id) or not passkeys.remove_passkey(
        current_actor(), passkey_id
    ):
        return jsonify(error=gettext("Not found.")), 404
    flash(gettext("The passkey is removed. Its phone can no longer sign in with it."))
    return redirect(url_for("auth.account"), code=303)


@bp.route("/passkeys/sign-in/options", methods=["POST"])
@public
def sign_in_options():
    """A challenge for any of this site's passkeys (a patient's sign-in); counted
    per address, since each is a stored row anyone could ask for."""
    wait = throttle.claim_challenge()
    if wait:
        return _too_many(wait)
    return _options(passkeys.sign_in_options())


@bp.route("/passkeys/sign-in", methods=["POST"])
@public
def sign_in():
    """A patient signs in with a passkey instead of their password."""
    try:
        verified = passkeys.verify_assertion(request.get_data(as_text=True))
    except PasskeyRefused as error:
        _count_failure(error)
        return _refused(error, "passkey_sign_in_refused")
    user = verified.user
    if user.is_staff:
        error = PasskeyRefused("staff passkey used without the password", user)
        return _refused(error, "passkey_sign_in_refused", STAFF_FIRST)
    attempt = throttle.claim_attempt(user.sign_in_name)
    if attempt.refused:
        services.record_sign_in(user, "sign_in_throttled", ok=False)
        return _too_many(attempt.wait)
    throttle.record_success(attempt)
    sign_session_in(session, user, mfa_passed=True)
    services.record_sign_in(user, "sign_in_passkey", ok=True)
    target = url_for("schedule.today")
    if services.welcome_once(user):
        target = url_for("shell.welcome")
    return throttle.remember_device(jsonify(redirect=target), user.sign_in_name)


def _pending_staff():
    user = getattr(session, "user", None)
    if user is None or not user.is_staff or session.mfa_passed or not user.is_active:
        return None
    return user


@bp.route("/passkeys/second-factor/options", methods=["POST"])
@public
def second_factor_options():
    """A challenge for the passkeys of the staff member who passed the password."""
    user = _pending_staff()
    if user is None:
        return jsonify(error=gettext("Sign in with your password first.")), 400
    return _options(passkeys.sign_in_options(user))


@bp.route("/passkeys/second-factor", methods=["POST"])
@public
def second_factor():
    """A staff member's passkey as the second step, instead of the 6-digit code."""
    user = _pending_staff()
    if user is None:
        return jsonify(error=gettext("Sign in with your password first.")), 400
    attempt = throttle.claim_attempt(user.sign_in_name)
    if attempt.refused:
        services.record_sign_in(user, "second_factor_throttled", ok=False)
        return _too_many(attempt.wait)
    try:
        passkeys.verify_assertion(request.get_data(as_text=True), expected_user=user)
    except PasskeyRefused as error:
        throttle.record_failure(attempt)
        return _refused(error, "second_factor_passkey_refused")
    throttle.record_success(attempt)
    sign_session_in(session, user, mfa_passed=True)
    services.record_sign_in(user, "sign_in", ok=True)
    target = session.pop("after_sign_in", None) or url_for("staff.home")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("staff.home")
    return throttle.remember_device(jsonify(redirect=target), user.sign_in_name)


def _too_many(wait: int):
    return jsonify(error=throttle.wait_text(wait)), 429, {"Retry-After": str(wait)}


def _count_failure(error: PasskeyRefused) -> None:
    """A refused passkey counts against its account from this client, as a wrong
    password does (when the account is known)."""
    if error.user is not None:
        attempt = throttle.claim_attempt(error.user.sign_in_name)
        if not attempt.refused:
            throttle.record_failure(attempt)


# ---- a passkey instead of a first password, with the enrollment code -----------------

ENROLLING = "passkey_enrollment_code"


@bp.route("/passkeys/enroll/options", methods=["POST"])
@public
def enroll_options():
    """Check the one-time code (without using it yet) and give a challenge to make
    a passkey for that patient's account; throttled like the password page."""
    fields = request.get_json(silent=True) or {}
    name, code = str(fields.get("name", ""))[:254], str(fields.get("code", ""))[:20]
    attempt = throttle.claim_attempt(services.find_account(name)[0])
    if attempt.refused:
        services.record_sign_in(None, "set_password_throttled", ok=False)
        return _too_many(attempt.wait)
    record = services.check_enrollment_code(name, code) if name and code else None
    user = db.session.get(User, record.user_id) if record else None
    if user is None or user.is_staff:
        throttle.record_failure(attempt)
        services.record_sign_in(None, "set_password_failed", ok=False)
        return jsonify(error=str(CODE_REFUSED)), 400
    throttle.record_success(attempt)
    session[ENROLLING] = record.id
    return _options(passkeys.registration_options(user))


@bp.route("/passkeys/enroll", methods=["POST"])
@public
def enroll():
    """Store the new passkey, use up the code and sign the patient in."""
    record = db.session.get(EnrollmentCode, session.pop(ENROLLING, "") or "")
    user = db.session.get(User, record.user_id) if record else None
    if (
        user is None
        or record.used_at is not None
        or record.expires_at <= utcnow()
        or not user.is_active
    ):
        return jsonify(error=str(CODE_REFUSED)), 400
    try:
        passkeys.register(user, request.get_data(as_text=True))
    except PasskeyRefused as error:
        return _refused(error, "add_passkey_refused")
    record.used_at = utcnow()
    sign_session_in(session, user, mfa_passed=True)
    services.record_sign_in(user, "sign_in_passkey", ok=True)
    target = url_for("shell.welcome") if services.welcome_once(user) else "/"
    return throttle.remember_device(jsonify(redirect=target), user.sign_in_name)
