"""The FHIR R4 API under /fhir: metadata, SMART discovery, the token endpoint, read,
search and Patient/$everything. Bearer tokens only: a signed-in session counts for
nothing here, and every answer, errors included, is FHIR JSON."""

from __future__ import annotations

import json
import os

from flask import Blueprint, current_app, g, request
from werkzeug.exceptions import HTTPException

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.record import clients
from portal.blueprints.record.fhir import capability
from portal.blueprints.record.fhir.common import (
    FHIR_JSON,
    NOTICE_HEADER,
    REDISCLOSURE_NOTICE,
    MapContext,
    operation_outcome,
)
from portal.blueprints.record.fhir.registry import all_types
from portal.blueprints.record.fhir.service import (
    Answer,
    FhirError,
    everything,
    program_info,
    read,
    search,
)
from portal.extensions import csrf
from portal.security import public, system_api

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
csrf.exempt(bp)


@bp.before_request
def forget_session_user() -> None:
    """FHIR answers to bearer tokens only; nothing here acts as the session's user."""
    g.actor = None


def respond(body: dict, status: int = 200, headers: dict | None = None):
    response = current_app.response_class(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status=status,
        mimetype=FHIR_JSON,
    )
    response.headers.update(headers or {})
    response.cache_control.no_store = True
    return response


def answer(result: Answer):
    headers = dict(result.headers)
    if result.part2:
        headers[NOTICE_HEADER] = REDISCLOSURE_NOTICE
    return respond(result.body, 200, headers)


@bp.errorhandler(FhirError)
def fhir_error(error: FhirError):
    """Refusals stay committed with the request: their audit rows are the record."""
    return respond(error.body(), error.status, error.headers)


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException):
    if error.code >= 500:
        db.session.rollback()
    code = {404: "not-found", 405: "not-supported", 413: "too-costly"}.get(
        error.code, "exception" if error.code >= 500 else "processing"
    )
    text = (
        "Something went wrong on our side." if error.code >= 500 else error.description
    )
    return respond(operation_outcome(code, text), error.code)


def context() -> MapContext:
    base = request.url_root.rstrip("/") + "/fhir"
    canonical = os.environ.get("PORTAL_FHIR_CANONICAL") or current_app.config.get(
        "FHIR_CANONICAL", base
    )
    return MapContext(base, canonical, program_info(g.caller.program))


def caller_for(resource_type: str) -> clients.Caller:
    """The client behind the bearer token, or a 401 OperationOutcome."""
    caller = clients.authenticate_bearer(request.headers.get("Authorization"))
    if caller is None:
        audit(
            "disclose",
            f"fhir_{resource_type}",
            outcome=Outcome.DENIED,
            actor=None,
            detail="no valid bearer token",
        )
        raise FhirError(
            401,
            "login",
            "A valid bearer token is needed (POST /fhir/token with client "
            "credentials).",
            {"WWW-Authenticate": 'Bearer realm="fhir", error="invalid_token"'},
        )
    g.caller = caller
    return caller


# ---- open endpoints ------------------------------------------------------------------


@bp.route("/metadata")
@public
def metadata():
    """The CapabilityStatement: what this server can do (open to anyone)."""
    base = request.url_root.rstrip("/") + "/fhir"
    return respond(capability.capability_statement(base, all_types()))


@bp.route("/.well-known/smart-configuration")
@public
def smart_configuration():
    """SMART discovery for backend services: where to get a token."""
    base = request.url_root.rstrip("/") + "/fhir"
    response = respond(capability.smart_configuration(base, all_types()))
    response.mimetype = "application/json"
    return response


@bp.route("/token", methods=["POST"])
@public
def token():
    """OAuth2 client credentials: a short-lived bearer token for the granted scopes."""
    client_key, secret = _client_credentials()
    if request.form.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", "use client_credentials", 400)
    if not client_key or not secret:
        return _oauth_error("invalid_client", "client credentials are missing", 401)
    try:
        issued = clients.issue_token(client_key, secret, request.form.get("scope"))
    except clients.ClientError as problem:
        return _oauth_error(problem.code, str(problem), problem.status)
    return _oauth_json(
        {
            "access_token": issued.value,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scopes,
        },
        200,
    )


def _client_credentials() -> tuple[str | None, str | None]:
    """client_secret_basic (Authorization: Basic) or client_secret_post (the form)."""
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.username, request.authorization.password
    return request.form.get("client_id"), request.form.get("client_secret")


def _oauth_error(code: str, description: str, status: int):
    response = _oauth_json({"error": code, "error_description": description}, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="fhir"'
    return response


def _oauth_json(body: dict, status: int):
    response = current_app.response_class(
        json.dumps(body), status=status, mimetype="application/json"
    )
    response.cache_control.no_store = True
    response.headers["Pragma"] = "no-cache"
    return response


# ---- resources -----------------------------------------------------------------------


def _read_view(resource_type: str):
    @system_api(resource_type)
    def view(resource_id: str):
        caller_for(resource_type)
        return answer(read(g.caller, resource_type, resource_id, context()))

    view.__doc__ = f"Read one {resource_type} by id."
    return view


def _search_view(resource_type: str):
    @system_api(resource_type)
    def view():
        caller_for(resource_type)
        return answer(
            search(g.caller, resource_type, request.args, context(), request.url)
        )

    view.__doc__ = f"Search {resource_type}."
    return view


@bp.route("/Patient/<patient_id>/$everything")
@system_api("Patient")
def patient_everything(patient_id: str):
    """Patient/$everything: the patient's record as one Bundle."""
    caller_for("Patient")
    return answer(everything(g.caller, patient_id, request.args, context()))


for _type in all_types():
    bp.add_url_rule(f"/{_type}", f"search_{_type}", _search_view(_type))
    bp.add_url_rule(f"/{_type}/<resource_id>", f"read_{_type}", _read_view(_type))


@bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
@public
def unknown_path(unknown: str):
    """Anything else under /fhir: an OperationOutcome, not an HTML page."""
    return respond(
        operation_outcome(
            "not-supported", "This server does not support that interaction."
        ),
        404,
    )
