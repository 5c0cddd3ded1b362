"""Manifest, service worker, the offline and crisis-help pages, the first sign-in
welcome, liveness, readiness."""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask import (
    Blueprint,
    current_app,
    make_response,
    render_template,
    send_from_directory,
)
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from portal import db
from portal.audit import audit
from portal.blueprints.programs.models import Enrollment, EnrollmentStatus
from portal.blueprints.programs.on_call import (
    OnCallLine,
    on_call_numbers,
    refresh_when_stale,
)
from portal.blueprints.safety.models import SafetyPlan
from portal.blueprints.safety.services import safety_plan_of
from portal.i18n import page_language
from portal.migrate import Schema, newest_revision, schema_state
from portal.security import Permission, current_actor, public, requires

bp = Blueprint("shell", __name__)


# The same words as base.html's meta description, in the language of the page asking
# (base.html's <html lang>): one source of truth would need the template to read
# config, which it does for the name.
MANIFEST_DESCRIPTION = _l("Your program schedule, check-ins and support.")


@bp.route("/manifest.webmanifest")
@public
def manifest():
    """Web app manifest, the same for everyone but its language (the page's, as
    <html lang>): a home screen shows only the neutral app name the header shows
    (PORTAL_APP_NAME), never a program's."""
    name = current_app.config["APP_NAME"]
    body = {
        "id": "/",
        "name": name,
        "short_name": name[:12].strip(),
        "description": str(MANIFEST_DESCRIPTION),
        "lang": page_language(),
        "dir": "ltr",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": current_app.config["THEME_COLOR"],
        "icons": [
            {
                "src": "/static/icons/icon-192.png",
                "sizes": "192x192",
                "type": "image/png",
            },
            {
                "src": "/static/icons/icon-512.png",
                "sizes": "512x512",
                "type": "image/png",
            },
            {
                "src": "/static/icons/icon-maskable-512.png",
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    response = make_response(json.dumps(body))
    response.headers["Content-Type"] = "application/manifest+json"
    return response


@bp.route("/sw.js")
@public
def service_worker():
    """The service worker, served from the root so its scope is the whole app."""
    response = send_from_directory(current_app.static_folder, "sw.js", max_age=0)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.cache_control.no_cache = True
    return response


@bp.route("/offline")
@public
def offline():
    """Shown by the service worker when there is no signal."""
    return render_template("shell/offline.html")


@bp.route("/crisis")
@public
def crisis():
    """Crisis help for anyone, signed in or not; precached so it works offline. It
    needs no database; a signed-in patient also gets their own on-call line and safety
    plan when the database answers."""
    app = current_app._get_current_object()
    own = _own_crisis_details(app)
    response = make_response(
        render_template(
            "shell/crisis.html",
            own_line=own.line if own else None,
            plan=own.plan if own else None,
        )
    )
    response.call_on_close(lambda: refresh_when_stale(app))
    return response


@dataclass
class OwnCrisisDetails:
    line: OnCallLine | None
    plan: SafetyPlan | None


def _own_crisis_details(app) -> OwnCrisisDetails | None:
    actor = current_actor()
    if actor is None or actor.is_staff:
        return None
    try:
        program_id = db.session.scalar(
            select(Enrollment.program_id)
            .where(
                Enrollment.patient_id == actor.id,
                Enrollment.status != EnrollmentStatus.DISCHARGED,
            )
            .order_by(Enrollment.admitted_on.desc())
            .limit(1)
        )
        plan = safety_plan_of(actor.id)
    except (DBAPIError, SQLAlchemyTimeoutError):
        db.session.rollback()
        return None
    audit("read", "safety_plan", patient_id=actor.id, detail="crisis page")
    return OwnCrisisDetails(on_call_numbers(app).line_of(app, program_id), plan)


@bp.route("/welcome")
@requires(Permission.PATIENT_SELF)
def welcome():
    """How to start: add the portal to the home screen, notifications, who sees
    what, the safety plan. Shown once after the first sign-in; the account page
    links to it."""
    return render_template(
        "shell/welcome.html", app_name=current_app.config["APP_NAME"]
    )


@bp.route("/healthz")
@public
def healthz():
    """Liveness for load balancers: no database, no session, no data."""
    response = make_response("ok")
    response.headers["Content-Type"] = "text/plain"
    return response


@bp.route("/readyz")
@public
def readyz():
    """Readiness: the database answers and this code can run on its schema; else 503
    with the reason. The worker is not asked: a stopped worker must never take the
    web hosts out (its heartbeat is on /metrics)."""
    state, at = schema_state(db.session)
    if state is Schema.UNREACHABLE:
        return _plain(
            "not ready: the database does not answer (PORTAL_DATABASE_URL)", 503
        )
    if state is Schema.OLDER:
        return _plain(
            f"not ready: the database is at migration {at or 'none'}, this code "
            f"needs {newest_revision()}: run `portal migrate`",
            503,
        )
    if state is Schema.NEWER:
        return _plain(f"ready (the database is at a newer migration, {at})", 200)
    return _plain("ready", 200)


def _plain(body: str, status: int):
    response = make_response(body, status)
    response.headers["Content-Type"] = "text/plain"
    return response


@bp.route("/saved-offline")
@public
def saved_offline():
    """What the service worker shows when a check-in is kept on the phone for later."""
    return render_template("shell/saved_offline.html")
