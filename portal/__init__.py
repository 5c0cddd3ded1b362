"""The portal application factory."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from flask import (
    Flask,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import db, error_tracking, i18n, logs, metrics
from portal.blueprints.auth.sessions import DatabaseSessionInterface, persist_session
from portal.blueprints.programs.on_call import (
    init_on_call_numbers,
    on_call_numbers,
    refresh_when_stale,
)
from portal.config import build_config
from portal.extensions import csrf, htmx, login_manager
from portal.headers import SECURITY_HEADERS, VARY
from portal.outage import what_was_kept
from portal.phones import shown as shown_phone
from portal.security import current_actor, has_permission, public
from portal.text import link_phone_numbers

log = logging.getLogger("portal")


def create_app(config: dict | None = None) -> Flask:
    """Build an app: config, database, extensions, blueprints, hooks, errors, CLI."""
    app = Flask(__name__, instance_path=str(Path.cwd() / "instance"))
    app.config.update(build_config(Path(app.instance_path), config))
    engine = app.config.get("ENGINE") or db.make_engine(app.config["SQLALCHEMY_URL"])
    app.extensions["engine"] = engine
    db.session.configure(bind=engine)
    hops = app.config["PROXY_HOPS"]
    if hops:  # the client's address and scheme as the trusted proxies saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    error_tracking.init_app(app)  # before anything can fail
    metrics.init_app(app)  # counts each request after the log line's hook has run
    logs.init_app(app)  # its line is written after every other hook has run
    htmx.init_app(app)
    i18n.init_app(app)
    login_manager.init_app(app)
    # Our sessions rotate at sign-in and are bound to their server-side row, so
    # Flask-Login's own session protection (a hash of address and agent) is not used.
    login_manager.session_protection = None
    login_manager.request_loader(load_signed_in_user)
    login_manager.unauthorized_handler(_ask_to_sign_in)
    app.session_interface = DatabaseSessionInterface()
    init_on_call_numbers(app)

    _register_blueprints(app)
    _mark_static_public(app)
    _register_hooks(app)
    # After the hooks: a page that needs the database answers 503 while it is down,
    # before the CSRF check (which needs the session) could refuse the post as stale.
    csrf.init_app(app)
    _register_errors(app)
    _register_template_helpers(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from portal.blueprints.auth.passkey_views import bp as passkeys_bp
    from portal.blueprints.auth.views import bp as auth_bp
    from portal.blueprints.checkins.views import bp as checkins_bp
    from portal.blueprints.messages.views import bp as messages_bp
    from portal.blueprints.needs.views import bp as needs_bp
    from portal.blueprints.notifications.views import bp as notifications_bp
    from portal.blueprints.record.api import bp as fhir_bp
    from portal.blueprints.record.cli import fhir_client_group
    from portal.blueprints.record.views import bp as record_bp
    from portal.blueprints.reviews.views import bp as reviews_bp
    from portal.blueprints.safety.views import bp as safety_bp
    from portal.blueprints.schedule.views import bp as schedule_bp
    from portal.blueprints.shell.views import bp as shell_bp
    from portal.blueprints.staff.views import bp as staff_bp

    blueprints = (
        shell_bp,
        auth_bp,
        passkeys_bp,
        schedule_bp,
        staff_bp,
        notifications_bp,
        safety_bp,
        checkins_bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    app.register_blueprint(messages_bp)
    app.register_blueprint(needs_bp)
    app.register_blueprint(reviews_bp)
    app.register_blueprint(record_bp)
    app.register_blueprint(fhir_bp)
    app.cli.add_command(fhir_client_group)
    _register_worker_tasks()
    _register_metrics_readers()
    _register_risk_answer_readers()
    _register_notification_describers()


def _register_worker_tasks() -> None:
    """Import the modules whose ``@task`` functions the worker runs on every round."""
    import portal.blueprints.auth.tasks
    import portal.blueprints.checkins.held  # also its @when_database_down hook
    import portal.blueprints.checkins.reminders
    import portal.blueprints.notifications.delivery
    import portal.blueprints.notifications.heartbeat
    import portal.blueprints.record.fhir.export
    import portal.blueprints.reviews.tasks
    import portal.blueprints.safety.tasks
    import portal.blueprints.schedule.reminders  # noqa: F401


def _register_metrics_readers() -> None:
    """Import the modules whose ``@metrics_reader`` functions /metrics runs."""
    import portal.blueprints.auth.metrics
    import portal.blueprints.notifications.metrics
    import portal.blueprints.safety.metrics  # noqa: F401


def _register_risk_answer_readers() -> None:
    """Import the modules that tell safety's alert page what raised a flag."""
    import portal.blueprints.checkins.risk_answers
    import portal.blueprints.messages.risk_answers  # noqa: F401


def _register_notification_describers() -> None:
    """Import the modules that tell the notification list what an item is about."""
    import portal.blueprints.messages.about
    import portal.blueprints.needs.about
    import portal.blueprints.schedule.about  # noqa: F401


def _mark_static_public(app: Flask) -> None:
    send_static = app.view_functions["static"]

    @public
    def static(filename):
        response = send_static(filename=filename)
        if request.args.get("v"):  # content-hashed URL: safe to cache for a year
            response.cache_control.max_age = 31536000
            response.cache_control.public = True
            response.cache_control.immutable = True
        return response

    app.view_functions["static"] = static


def load_signed_in_user(_request):
    """Flask-Login's loader over our server-side session: the session's user, staff
    only after their second factor; nobody on the FHIR API, which answers to bearer
    tokens only; for a view marked `@signed_in_by`, the user its token names."""
    if request.blueprint == "fhir":
        return None
    view = current_app.view_functions.get(request.endpoint)
    if hasattr(view, "user_loader"):
        return _user_named_by_token(view)
    user = getattr(session, "user", None)
    if user is None or not user.is_active:
        return None
    if user.is_staff and not session.mfa_passed:
        return None
    return user


def _user_named_by_token(view):
    """The user a `@signed_in_by` view's token names. When the database does not
    answer, nobody, with the request marked as the session is when it cannot be read:
    it is answered 503 (the phone keeps its sending), not 404 (the phone would drop
    it), and the error page's own look-up of the user does not fail a second time."""
    try:
        return view.user_loader(request)
    except (DBAPIError, SQLAlchemyTimeoutError):
        _forget_failed_transaction()
        session.database_down = True
        return None


def _register_hooks(app: Flask) -> None:
    @app.before_request
    def enforce_route_permission():
        if request.endpoint is None:
            return None
        view = app.view_functions[request.endpoint]
        if not hasattr(view, "required_permissions"):
            log.error("route %s declares no permission; refusing", request.endpoint)
            abort(500)
        # Flask-Login keeps the user on `g`; a test's pushed app context shares `g`
        # between requests, so each request loads its own.
        g.pop("_login_user", None)
        if view.is_public:
            return None
        if getattr(session, "database_down", False):
            abort(503)
        if not current_user.is_authenticated:
            if getattr(session, "database_down", False):  # the token's user unread
                abort(503)
            if hasattr(view, "user_loader"):  # a token that is not genuine or too old
                abort(404)
            return login_manager.unauthorized()
        if not any(has_permission(current_user, p) for p in view.required_permissions):
            abort(404)
        return None

    @app.after_request
    def finish_request(response):
        for name, value in SECURITY_HEADERS:
            response.headers[name] = value
        for name in VARY:
            response.vary.add(name)
        if request.endpoint != "static":  # the page's language (portal/i18n.py)
            response.vary.update(("Accept-Language", "Cookie"))
        if request.endpoint != "static" and (
            current_actor() is not None or getattr(session, "id_hash", None) is not None
        ):
            response.cache_control.no_store = True
            response.cache_control.private = True
        if response.status_code < 500:
            persist_session(session, request.remote_addr)
            db.session.commit()
        return response

    @app.teardown_appcontext
    def end_transaction(exc):
        if exc is not None:
            db.session.rollback()
        db.session.remove()


def _ask_to_sign_in():
    view = current_app.view_functions.get(request.endpoint)
    resent_to = getattr(view, "resent_to", None)
    if request.method == "POST" and resent_to and request.form.get("sender"):
        # A check-in posted after the session ended (a page left open, no JavaScript):
        # its token names the patient, and the twin that takes queued sendings stores
        # it; a risk answer gets its flag and crisis help instead of a sign-in page.
        return redirect(url_for(resent_to, **(request.view_args or {})), 307)
    if request.method == "GET":
        session["after_sign_in"] = request.full_path.rstrip("?")
    timed_out = {"away": 1} if getattr(session, "expired", False) else {}
    target = url_for("auth.sign_in", **timed_out)
    return app_response_redirect(target) if htmx else redirect(target)


def app_response_redirect(location: str):
    response = make_response("", 204)
    response.headers["HX-Redirect"] = location
    return response


def _register_errors(app: Flask) -> None:
    def render_error(status: int, title: str, message: str, kept=()):
        response = make_response(
            render_template("error.html", title=title, message=message, kept=kept),
            status,
        )
        response.call_on_close(lambda: refresh_when_stale(app))
        return response

    @app.errorhandler(404)
    def not_found(_error):
        return render_error(
            404,
            gettext("Page not found"),
            gettext(
                "We could not find that page. It may have moved, or you may "
                "not have access to it."
            ),
        )

    @app.errorhandler(CSRFError)
    def csrf_failed(_error):
        return render_error(
            400,
            gettext("Please try again"),
            gettext(
                "This form was open too long or came from somewhere else, so "
                "we did not save it. Go back, reload the page and send it "
                "again."
            ),
        )

    @app.errorhandler(400)
    def bad_request(_error):
        return render_error(
            400,
            gettext("Something was wrong with that request"),
            gettext("Nothing was changed. Go back and try again."),
        )

    @app.errorhandler(403)
    def forbidden(_error):
        return render_error(
            403,
            gettext("That could not be checked"),
            gettext("Nothing was changed or shown."),
        )

    @app.errorhandler(405)
    def wrong_method(_error):
        return render_error(
            405,
            gettext("That did not work"),
            gettext("Nothing was changed. Go back and try again."),
        )

    @app.errorhandler(413)
    def too_large(_error):
        return render_error(
            413,
            gettext("That was too much to send"),
            gettext("Nothing was changed. Please send less text."),
        )

    @app.errorhandler(500)
    def server_error(_error):
        _forget_failed_transaction()
        return render_error(
            500,
            gettext("Something went wrong on our side"),
            gettext(
                "Nothing was lost that you had already saved. Please try again "
                "in a minute."
            ),
        )

    @app.errorhandler(503)
    @app.errorhandler(DBAPIError)
    @app.errorhandler(SQLAlchemyTimeoutError)
    def records_unavailable(error):
        _forget_failed_transaction()
        if isinstance(error, HTTPException):  # the session could not be read
            log.warning("answered 503: the database did not answer")
        else:
            log.error("answered 503: the database failed", exc_info=error)
        response = make_response(
            render_error(
                503,
                gettext("We cannot reach your records right now"),
                gettext(
                    "Please try again in a few minutes. Nothing you had already "
                    "saved is lost. If you need help now, the numbers below work "
                    "any time."
                ),
                kept=what_was_kept(),
            )
        )
        response.headers["Retry-After"] = "30"
        return response


def _forget_failed_transaction() -> None:
    """End the request's transaction; with the database gone, just let it go."""
    db.forget_failed_transaction()


def _register_template_helpers(app: Flask) -> None:
    static_dir = Path(app.static_folder)
    urls: dict[tuple[str, str], str] = {}

    def static_url(filename: str) -> str:
        """The content-hashed URL, built once per file: every page asks for several."""
        key = (request.script_root, filename)
        if key not in urls:
            digest = hashlib.sha256((static_dir / filename).read_bytes()).hexdigest()
            urls[key] = url_for("static", filename=filename, v=digest[:12])
        return urls[key]

    def on_call_lines():
        """Crisis help's on-call numbers, from memory: never a query."""
        return on_call_numbers(app).lines(app)

    @app.context_processor
    def inject_helpers():
        return {"static_url": static_url, "on_call_lines": on_call_lines}

    app.jinja_env.globals["input_attrs"] = input_attrs
    app.jinja_env.filters["phone_links"] = link_phone_numbers
    app.jinja_env.filters["phone"] = shown_phone


def input_attrs(field, autocomplete=None, inputmode=None, hint=None) -> dict:
    """Attributes that tie an input to its hint and error for screen readers."""
    attrs = {
        key: value
        for key, value in (("autocomplete", autocomplete), ("inputmode", inputmode))
        if value
    }
    described = [f"{field.id}-hint"] if hint else []
    if field.errors:
        described.append(f"{field.id}-error")
        attrs["aria-invalid"] = "true"
    if described:
        attrs["aria-describedby"] = " ".join(described)
    return attrs
