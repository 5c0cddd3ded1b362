"""Manifest, service worker, offline page and the crisis-help page."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    current_app,
    g,
    make_response,
    render_template,
    send_from_directory,
)
from sqlalchemy import select

from portal import db
from portal.blueprints.staff.models import Enrollment, Program
from portal.security import public

bp = Blueprint("shell", __name__)


def _app_name() -> str:
    actor = g.get("actor")
    if actor is not None and not actor.is_staff:
        name = db.session.scalar(
            select(Program.app_name)
            .join(Enrollment, Enrollment.program_id == Program.id)
            .where(Enrollment.patient_id == actor.id)
            .limit(1)
        )
        if name:
            return name
    return current_app.config["APP_NAME"]


@bp.route("/manifest.webmanifest")
@public
def manifest():
    """Web app manifest; the name is the program's own app name where it has one."""
    name = _app_name()
    body = {
        "name": name,
        "short_name": name[:12],
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
    """Crisis help for anyone, signed in or not; precached so it works offline."""
    programs = db.session.scalars(select(Program).order_by(Program.name)).all()
    return render_template("shell/crisis.html", programs=programs)


@bp.route("/healthz")
@public
def healthz():
    """Liveness for load balancers: no database, no session, no data."""
    response = make_response("ok")
    response.headers["Content-Type"] = "text/plain"
    return response


@bp.route("/saved-offline")
@public
def saved_offline():
    """What the service worker shows when a check-in is kept on the phone for later."""
    return render_template("shell/saved_offline.html")
