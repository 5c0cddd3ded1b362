"""Sign in, second factor, set a password with a code, change password, sign out."""

from __future__ import annotations

import pyotp
import segno
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from portal.audit import audit
from portal.blueprints.auth import passkeys, services, throttle
from portal.blueprints.auth.forms import (
    ChangePasswordForm,
    CodeForm,
    SetPasswordForm,
    SignInForm,
)
from portal.blueprints.auth.sessions import sign_session_in
from portal.i18n import LANGUAGE_COOKIE, known_language
from portal.security import Permission, current_actor, public, requires

bp = Blueprint("auth", __name__)
LANGUAGE_COOKIE_DAYS = 365

NO_MATCH = _l(
    "That email or phone number and password did not work. Check them and try "
    "again. If you forgot your password, ask the program staff for a new code."
)
CODE_REFUSED = _l(
    "That email or phone number and code did not work. Codes can be used once and "
    "expire after 3 days. Ask the program staff for a new one."
)


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in():
    """Email (or a patient's mobile number) and password; staff go on to their
    second factor."""
    form = SignInForm()
    if request.method == "GET" and request.args.get("away"):
        flash(
            gettext(
                "You were signed out because you were away for a while. Please sign "
                "in again."
            )
        )
    if not form.validate_on_submit():
        return render_template("auth/sign_in.html", form=form)
    name, account = services.find_account(form.email.data)
    attempt = throttle.claim_attempt(name)
    if attempt.refused:
        services.record_sign_in(None, "sign_in_throttled", ok=False)
        return _too_many("auth/sign_in.html", attempt, form=form)
    user = services.check_password(account, form.password.data)
    if user is None:
        throttle.record_failure(attempt)
        services.record_sign_in(None, "sign_in_failed", ok=False)
        return render_template("auth/sign_in.html", form=form, error=NO_MATCH), 200
    throttle.record_success(attempt)
    sign_session_in(session, user, mfa_passed=not user.is_staff)
    if user.is_staff:
        services.record_sign_in(user, "password_ok", ok=True)
        return redirect(url_for("auth.second_factor"))
    services.record_sign_in(user, "sign_in", ok=True)
    target = _after_sign_in(user)
    return throttle.remember_device(redirect(target), user.sign_in_name)


def _too_many(template: str, attempt: throttle.Attempt, **context):
    """429 with Retry-After: this client tried too often; others are not stopped."""
    body = render_template(template, error=throttle.wait_text(attempt.wait), **context)
    return body, 429, {"Retry-After": str(attempt.wait)}


def _after_sign_in(user=None) -> str:
    target = session.pop("after_sign_in", None)
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    if user is not None and services.welcome_once(user):
        return url_for("shell.welcome")
    return url_for("schedule.today")


def _pending_staff():
    user = getattr(session, "user", None)
    if user is None or not user.is_staff or session.mfa_passed or not user.is_active:
        return None
    return user


@bp.route("/sign-in/code", methods=["GET", "POST"])
@public
def second_factor():
    """The 6-digit code from the staff member's authenticator app."""
    user = _pending_staff()
    if user is None:
        return redirect(url_for("auth.sign_in"))
    if not user.totp_enabled:
        return redirect(url_for("auth.set_up_code"))
    form = CodeForm()
    demo_code = _demo_code(user)
    page = {"demo_code": demo_code, "has_passkey": bool(passkeys.passkeys_of(user))}
    if not form.validate_on_submit():
        return render_template("auth/code.html", form=form, **page)
    attempt = throttle.claim_attempt(user.sign_in_name)
    if attempt.refused:
        services.record_sign_in(user, "second_factor_throttled", ok=False)
        return _too_many("auth/code.html", attempt, form=form, **page)
    if not services.verify_totp(user, form.code.data):
        throttle.record_failure(attempt)
        services.record_sign_in(user, "second_factor_failed", ok=False)
        return render_template(
            "auth/code.html",
            form=form,
            **page,
            error=gettext(
                "That code did not work. Codes change every 30 seconds: try the "
                "newest one."
            ),
        ), 200
    throttle.record_success(attempt)
    sign_session_in(session, user, mfa_passed=True)
    services.record_sign_in(user, "sign_in", ok=True)
    target = _after_sign_in() if session.get("after_sign_in") else url_for("staff.home")
    return throttle.remember_device(redirect(target), user.sign_in_name)


def _demo_code(user) -> str | None:
    """Only in the demo, and only for demo accounts: show the current code."""
    if current_app.config["DEMO"] and (user.email or "").endswith("@demo.test"):
        return pyotp.TOTP(user.totp_secret).now()
    return None


@bp.route("/sign-in/set-up-code", methods=["GET", "POST"])
@public
def set_up_code():
    """First sign-in of a staff member: link an authenticator app."""
    user = _pending_staff()
    if user is None:
        return redirect(url_for("auth.sign_in"))
    if user.totp_enabled:
        return redirect(url_for("auth.second_factor"))
    secret = services.start_totp_enrollment(user)
    # Our own drawing of modules; no user text reaches the markup (the URI is encoded).
    qr_svg = Markup(  # noqa: S704 - see the comment above
        segno.make(services.totp_uri(user), error="m").svg_inline(
            scale=4, title=gettext("QR code for your authenticator app")
        )
    )
    form = CodeForm()
    if form.validate_on_submit() and services.verify_totp(user, form.code.data):
        user.totp_enabled = True
        audit("enable_second_factor", "account", object_id=user.id, actor=user)
        sign_session_in(session, user, mfa_passed=True)
        services.record_sign_in(user, "sign_in", ok=True)
        return throttle.remember_device(
            redirect(url_for("staff.home")), user.sign_in_name
        )
    error = (
        gettext("That code did not work. Try the newest one.")
        if form.is_submitted()
        else None
    )
    return render_template(
        "auth/set_up_code.html", form=form, secret=secret, qr_svg=qr_svg, error=error
    )


@bp.route("/set-password", methods=["GET", "POST"])
@public
def set_password():
    """Set a password with the one-time code from the program staff."""
    form = SetPasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/set_password.html", form=form)
    attempt = throttle.claim_attempt(services.find_account(form.email.data)[0])
    if attempt.refused:
        services.record_sign_in(None, "set_password_throttled", ok=False)
        return _too_many("auth/set_password.html", attempt, form=form)
    user = services.redeem_enrollment_code(
        form.email.data, form.code.data, form.password.data
    )
    if user is None:
        throttle.record_failure(attempt)
        services.record_sign_in(None, "set_password_failed", ok=False)
        return render_template(
            "auth/set_password.html",
            form=form,
            error=CODE_REFUSED,
        ), 200
    throttle.record_success(attempt)
    flash(gettext("Your password is set. You can sign in now."))
    return redirect(url_for("auth.sign_in"))


@bp.route("/forgot-password")
@public
def forgot_password():
    """The same advice for everyone: no hint whether an account exists."""
    return render_template("auth/forgot.html")


@bp.route("/account", methods=["GET", "POST"])
@requires(Permission.SIGNED_IN)
def account():
    """Change your password; other devices are signed out."""
    user = current_actor()
    form = ChangePasswordForm()
    keys = passkeys.passkeys_of(user)
    if not form.validate_on_submit():
        return render_template("auth/account.html", form=form, passkeys=keys)
    attempt = throttle.claim_attempt(user.sign_in_name)
    if attempt.refused:
        form.current.errors = [throttle.wait_text(attempt.wait)]
        return _too_many("auth/account.html", attempt, form=form, passkeys=keys)
    if services.check_password(user, form.current.data) is None:
        throttle.record_failure(attempt)
        form.current.errors = [gettext("That is not your current password.")]
        return render_template("auth/account.html", form=form, passkeys=keys), 200
    throttle.record_success(attempt)
    services.set_password(user, form.password.data, keep=session.id_hash)
    sign_session_in(session, user, mfa_passed=True)
    audit("change_password", "account", object_id=user.id)
    flash(
        gettext("Your password is changed. Other phones and computers were signed out.")
    )
    return redirect(url_for("auth.account"))


@bp.route("/sign-out", methods=["POST"])
@public
def sign_out():
    """End this session on the server and clear the cookie."""
    user = getattr(session, "user", None)
    if user is not None:
        services.record_sign_in(user, "sign_out", ok=True)
    session.destroy()
    session.clear()
    return redirect(url_for("auth.sign_in", bye=1))


@bp.route("/language", methods=["POST"])
@public
def choose_language():
    """Read the portal in another language: kept in a cookie for this phone, and on
    the account of a signed-in patient (their choice then wins everywhere)."""
    language = known_language(request.form.get("language"))
    user = current_actor()
    if user is not None and not user.is_staff:
        services.set_language(user, language)
    target = request.form.get("next") or url_for("schedule.today")
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        target = url_for("schedule.today")
    response = redirect(target)
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=LANGUAGE_COOKIE_DAYS * 24 * 3600,
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )
    return response
