"""The FHIR R4 API under /fhir: metadata, SMART discovery, the token endpoint, read,
search and Patient/$everything. Bearer tokens only: a signed-in session counts for
nothing here, and every answer, errors included, is FHIR JSON."""

from __future__ import annotations

import json
import os

import jwt
from flask import Blueprint, current_app, g, request
from werkzeug.exceptions import HTTPException

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.auth import throttle
from portal.blueprints.record import assertions, clients
from portal.blueprints.record.fhir import capability, export
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
from portal.blueprints.record.models import ExportStatus
from portal.extensions import csrf
from portal.security import public, system_api

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
csrf.exempt(bp)


JSON_FORMATS = {"json", "application/json", "application/fhir+json"}
XML_TYPES = ("application/fhir+xml", "application/xml", "text/xml")


@bp.before_request
def json_only():
    """Only JSON is served: a client asking for XML (Accept or _format) gets 406
    with an OperationOutcome in JSON, rather than JSON it did not ask for."""
    wanted = request.args.get("_format")
    if wanted is not None and wanted.strip() not in JSON_FORMATS:
        return _not_acceptable()
    offered = [FHIR_JSON, "application/json", *XML_TYPES]
    best = request.accept_mimetypes.best_match(offered)
    if best in XML_TYPES:
        return _not_acceptable()
    return None


def _not_acceptable():
    return respond(
        operation_outcome(
            "not-supported", "Only JSON is served (application/fhir+json)."
        ),
        406,
    )


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
    """OAuth2 client credentials: a short-lived bearer token for the granted scopes,
    the client authenticated by its secret or by a signed JWT (private_key_jwt)."""
    if request.form.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", "use client_credentials", 400)
    if "client_assertion" in request.form or "client_assertion_type" in request.form:
        return _token_by_assertion()
    client_key, secret = _client_credentials()
    if not client_key or not secret:
        return _oauth_error("invalid_client", "client credentials are missing", 401)
    attempt = throttle.claim_attempt(client_key, kind="fhir-client")
    if attempt.refused:
        return _too_many(attempt)
    try:
        issued = clients.issue_token(client_key, secret, request.form.get("scope"))
    except clients.ClientError as problem:
        if problem.code == "invalid_client":
            throttle.record_failure(attempt)
        else:
            throttle.record_success(attempt)
        return _oauth_error(problem.code, str(problem), problem.status)
    throttle.record_success(attempt)
    return _token_answer(issued)


def _token_answer(issued):
    """The OAuth 2.0 token response of a token just minted."""
    return _oauth_json(
        {
            "access_token": issued.value,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scopes,
        },
        200,
    )


def _token_by_assertion():
    """SMART Backend Services: the client's signed assertion instead of a secret."""
    assertion = request.form.get("client_assertion", "")
    if request.form.get("client_assertion_type") != assertions.ASSERTION_TYPE:
        return _oauth_error("invalid_client", "unknown client_assertion_type", 401)
    attempt = throttle.claim_attempt(_claimed_issuer(assertion), kind="fhir-client")
    if attempt.refused:
        return _too_many(attempt)
    token_url = request.url_root.rstrip("/") + "/fhir/token"
    try:
        client = assertions.client_for_assertion(assertion, token_url)
        issued = clients.mint_token(client, request.form.get("scope"))
    except clients.ClientError as problem:
        if problem.code == "invalid_client":
            throttle.record_failure(attempt)
        return _oauth_error(problem.code, str(problem), problem.status)
    throttle.record_success(attempt)
    return _token_answer(issued)


def _claimed_issuer(assertion: str) -> str:
    """Who the assertion says it is, for the throttle's key only (not yet trusted)."""
    try:
        issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        issuer = None
    return issuer if isinstance(issuer, str) and issuer else "unknown-assertion"


def _client_credentials() -> tuple[str | None, str | None]:
    """client_secret_basic (Authorization: Basic) or client_secret_post (the form)."""
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.username, request.authorization.password
    return request.form.get("client_id"), request.form.get("client_secret")


def _too_many(attempt: throttle.Attempt):
    """This address failed too often for this client id; others are not stopped."""
    audit("token", "fhir_token", outcome=Outcome.DENIED, actor=None, detail="throttled")
    response = _oauth_error(
        "slow_down", "too many failed tries from this address; wait and retry", 429
    )
    response.headers["Retry-After"] = str(attempt.wait)
    return response


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
        strict = "handling=strict" in request.headers.get("Prefer", "").replace(" ", "")
        return answer(
            search(
                g.caller,
                resource_type,
                request.args,
                context(),
                request.base_url,
                strict=strict,
            )
        )

    view.__doc__ = f"Search {resource_type}."
    return view


@bp.route("/Patient/<patient_id>/$everything")
@system_api("Patient")
def patient_everything(patient_id: str):
    """Patient/$everything: the patient's record as one Bundle."""
    caller_for("Patient")
    return answer(everything(g.caller, patient_id, request.args, context()))


# ---- Bulk Data export ----------------------------------------------------------------


@bp.route("/Group/<group_id>/$export")
@system_api("Patient")
def group_export(group_id: str):
    """Bulk Data kick-off for the client's program: 202 and where to poll."""
    caller = caller_for("Group")
    started = export.kick_off(
        caller,
        group_id,
        request.args,
        request.headers.get("Prefer", ""),
        request.url,
    )
    status_url = f"{_base()}/bulk-status/{started.id}"
    body = operation_outcome("informational", "Export accepted.", "information")
    return respond(body, 202, {"Content-Location": status_url})


@bp.route("/bulk-status/<export_id>", methods=["GET", "DELETE"])
@system_api("Patient")
def export_status(export_id: str):
    """Poll an export: 202 while it runs, then the manifest; DELETE gives it up."""
    caller = caller_for("Group")
    started = export.own_export(caller, export_id)
    if request.method == "DELETE":
        export.cancel(caller, started)
        return respond(
            operation_outcome("informational", "Export deleted.", "information"), 202
        )
    if started.status in (ExportStatus.ACCEPTED, ExportStatus.RUNNING):
        response = current_app.response_class(status=202)
        response.headers.update({"X-Progress": started.status, "Retry-After": "5"})
        response.cache_control.no_store = True
        return response
    if started.status != ExportStatus.COMPLETE:
        return respond(operation_outcome("exception", "The export failed."), 500)
    audit("read", "fhir_export", object_id=started.id, actor=caller.client)
    response = respond(export.manifest(started, _base()))
    response.mimetype = "application/json"
    return response


@bp.route("/bulk-files/<export_file_id>")
@system_api("Patient")
def export_file(export_file_id: str):
    """One NDJSON file of the caller's own export, as far as consent still allows."""
    caller = caller_for("Group")
    file, _started = export.own_file(caller, export_file_id)
    response = current_app.response_class(
        export.file_body(caller, file), mimetype=export.NDJSON
    )
    if caller.program.substance_use:
        response.headers[NOTICE_HEADER] = REDISCLOSURE_NOTICE
    response.cache_control.no_store = True
    return response


def _base() -> str:
    return request.url_root.rstrip("/") + "/fhir"


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
