"""The portal application factory."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from flask import Flask, abort, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError

from portal import db
from portal.config import build_config
from portal.extensions import csrf, htmx, login_manager
from portal.headers import SECURITY_HEADERS, VARY
from portal.security import has_permission, public
from portal.sessions import DatabaseSessionInterface, persist_session

log = logging.getLogger("portal")


def create_app(config: dict | None = None) -> Flask:
    """Build an app: config, database, extensions, blueprints, hooks, errors, CLI."""
    app = Flask(__name__, instance_path=str(Path.cwd() / "instance"))
    app.config.update(build_config(Path(app.instance_path), config))
    engine = app.config.get("ENGINE") or db.make_engine(app.config["SQLALCHEMY_URL"])
    app.extensions["engine"] = engine
    db.session.configure(bind=engine)

    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = None
    login_manager.request_loader(lambda _request: g.get("actor"))
    app.session_interface = DatabaseSessionInterface()

    _register_blueprints(app)
    _mark_static_public(app)
    _register_hooks(app)
    _register_errors(app)
    _register_template_helpers(app)
    from portal.cli import register_cli

    register_cli(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from portal.blueprints.auth.views import bp as auth_bp
    from portal.blueprints.checkins.views import bp as checkins_bp
    from portal.blueprints.messages.poll import UnchangedPollShortcut
    from portal.blueprints.messages.views import bp as messages_bp
    from portal.blueprints.needs.views import bp as needs_bp
    from portal.blueprints.notifications.views import bp as notifications_bp
    from portal.blueprints.record.api import bp as fhir_bp
    from portal.blueprints.record.views import bp as record_bp
    from portal.blueprints.schedule.views import bp as schedule_bp
    from portal.blueprints.shell.views import bp as shell_bp
    from portal.blueprints.staff.views import bp as staff_bp

    blueprints = (
        shell_bp,
        auth_bp,
        schedule_bp,
        staff_bp,
        notifications_bp,
        checkins_bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    app.register_blueprint(messages_bp)
    app.register_blueprint(needs_bp)
    app.register_blueprint(record_bp)
    app.register_blueprint(fhir_bp)
    app.wsgi_app = UnchangedPollShortcut(app, app.wsgi_app)


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


def signed_in_user():
    """The fully signed-in user: staff only after their second factor."""
    user = getattr(session, "user", None)
    if user is None or not user.is_active:
        return None
    if user.is_staff and not session.mfa_passed:
        return None
    return user


def _register_hooks(app: Flask) -> None:
    @app.before_request
    def enforce_route_permission():
        if request.endpoint is None:
            return None
        view = app.view_functions[request.endpoint]
        if not hasattr(view, "required_permissions"):
            log.error("route %s declares no permission; refusing", request.endpoint)
            abort(500)
        g.actor = signed_in_user()
        if view.is_public:
            return None
        if g.actor is None:
            return _ask_to_sign_in()
        if not any(has_permission(g.actor, p) for p in view.required_permissions):
            abort(404)
        return None

    @app.after_request
    def finish_request(response):
        for name, value in SECURITY_HEADERS:
            response.headers[name] = value
        for name in VARY:
            response.vary.add(name)
        if request.endpoint != "static" and (
            g.get("actor") is not None or getattr(session, "id_hash", None) is not None
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
    if request.method == "GET":
        session["after_sign_in"] = request.full_path.rstrip("?")
    timed_out = {"away": 1} if getattr(session, "expired", False) else {}
    target = url_for("auth.sign_in", **timed_out)
    return app_response_redirect(target) if htmx else redirect(target)


def app_response_redirect(location: str):
    from flask import make_response

    response = make_response("", 204)
    response.headers["HX-Redirect"] = location
    return response


def _register_errors(app: Flask) -> None:
    def render_error(status: int, title: str, message: str):
        return render_template("error.html", title=title, message=message), status

    @app.errorhandler(404)
    def not_found(_error):
        return render_error(
            404,
            "Page not found",
            "We could not find that page. It may have moved, or you may "
            "not have access to it.",
        )

    @app.errorhandler(CSRFError)
    def csrf_failed(_error):
        return render_error(
            400,
            "Please try again",
            "This form was open too long or came from somewhere else, so "
            "we did not save it. Go back, reload the page and send it "
            "again.",
        )

    @app.errorhandler(400)
    def bad_request(_error):
        return render_error(
            400,
            "Something was wrong with that request",
            "Nothing was changed. Go back and try again.",
        )

    @app.errorhandler(405)
    def wrong_method(_error):
        return render_error(
            405, "That did not work", "Nothing was changed. Go back and try again."
        )

    @app.errorhandler(413)
    def too_large(_error):
        return render_error(
            413,
            "That was too much to send",
            "Nothing was changed. Please send less text.",
        )

    @app.errorhandler(500)
    def server_error(_error):
        db.session.rollback()
        return render_error(
            500,
            "Something went wrong on our side",
            "Nothing was lost that you had already saved. Please try again "
            "in a minute.",
        )


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

    paths: dict[tuple[str, str], str] = {}

    def page_url(endpoint: str, **values) -> str:
        """url_for, remembered for the links that take no values (the navigation and
        the Today buttons): a page has about twenty, and building each costs more than
        the markup around it. The same answer as url_for, which it calls once."""
        if values or endpoint.startswith("."):
            return url_for(endpoint, **values)
        key = (request.script_root, endpoint)
        if key not in paths:
            paths[key] = url_for(endpoint)
        return paths[key]

    @app.context_processor
    def inject_helpers():
        return {"static_url": static_url, "actor": g.get("actor")}

    app.jinja_env.globals["url_for"] = page_url

    app.jinja_env.globals["input_attrs"] = input_attrs


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
