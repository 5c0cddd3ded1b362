"""Read, search and $everything for an authenticated EHR client: program scope first
(404), then the patient's consent (403 with the reason), then the data, and an
accounting row and an audit row for every patient whose data was asked for."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.auth.models import Role, User
from portal.blueprints.record import sharing, sources
from portal.blueprints.record.clients import Caller, scope_allows
from portal.blueprints.record.fhir import consent
from portal.blueprints.record.fhir import patient as patient_map
from portal.blueprints.record.fhir.common import (
    MapContext,
    bundle,
    meta,
    notice_extension,
    operation_outcome,
)
from portal.blueprints.record.fhir.registry import EVERYTHING_ORDER, PARTS
from portal.blueprints.record.fhir.search import (
    SearchError,
    SearchParams,
    parse_instant,
    parse_search,
)
from portal.blueprints.record.kinds import PATIENT_LABELS
from portal.blueprints.record.models import RecordConsent
from portal.blueprints.record.sources import Window, one_patient, when_of
from portal.blueprints.staff.models import Program, StaffMembership
from portal.db import utcnow

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
COMPARTMENT_PARAMS = {"patient", "subject", "date", "_lastUpdated", "_id"}
PLAIN_PARAMS = {"_id", "_lastUpdated"}
EVERYTHING_PARAMS = {"_since", "_type", "start", "end", "_format"}


class FhirError(Exception):
    """An error answered as an OperationOutcome."""

    def __init__(self, status: int, code: str, text: str, headers=None):
        super().__init__(text)
        self.status, self.code, self.text = status, code, text
        self.headers = headers or {}

    def body(self) -> dict:
        return operation_outcome(self.code, self.text)


@dataclass
class Answer:
    body: dict
    part2: bool = False
    headers: dict = field(default_factory=dict)


def not_found(resource_type: str, resource_id: str | None = None) -> FhirError:
    what = f"{resource_type}/{resource_id}" if resource_id else resource_type
    return FhirError(404, "not-found", f"{what} is not known to this server.")


def require_scope(caller: Caller, resource_type: str, interaction: str) -> None:
    if not scope_allows(caller.scopes, resource_type, interaction):
        audit(
            interaction,
            f"fhir_{resource_type}",
            outcome=Outcome.DENIED,
            actor=caller.client,
            detail="scope",
        )
        raise FhirError(
            403,
            "forbidden",
            f"The access token's scopes do not allow {interaction} of "
            f"{resource_type} (needs system/{resource_type}.read).",
        )


# ---- read ----------------------------------------------------------------------------


def read(caller: Caller, resource_type: str, resource_id: str, ctx: MapContext):
    """One resource by id."""
    require_scope(caller, resource_type, "read")
    if not FHIR_ID.match(resource_id):
        raise not_found(resource_type, resource_id)
    if resource_type in ("Practitioner", "Organization"):
        return Answer(_read_directory(caller, resource_type, resource_id, ctx))
    part, row = _find(caller, resource_type, resource_id)
    if row is None:
        raise not_found(resource_type, resource_id)
    patient_id = part.source.patient_of(row)
    if not _in_program(caller, patient_id):
        _audit_out_of_program(caller, resource_type)
        raise not_found(resource_type, resource_id)
    decision = _consent_or_refuse(caller, patient_id, "read", [resource_type])
    if not decision.covers(part.kind):
        _refuse(caller, patient_id, "read", [resource_type], decision, part.kind)
    resource = part.to_fhir(row, ctx)
    sharing.record_disclosure(
        caller.client,
        patient_id,
        interaction="read",
        resource_types=[resource_type],
        count=1,
        decision=decision,
    )
    if decision.part2:
        resource["meta"].setdefault("extension", []).append(
            notice_extension(ctx.canonical)
        )
    return Answer(resource, decision.part2)


def _find(caller, resource_type: str, resource_id: str):
    """The part and row of a resource id, or (None, None)."""
    if not FHIR_ID.match(resource_id):
        return None, None
    parts = PARTS.get(resource_type, ())
    if resource_type == "AuditEvent":
        if not resource_id.isdigit():
            return None, None
        resource_id = int(resource_id)
    for part in parts:
        row = db.session.execute(
            part.statement(caller.client, ids=(resource_id,), limit=1)
        ).first()
        if row is not None:
            if resource_type == "Patient" and row[0].role is not Role.PATIENT:
                return None, None
            return part, row
    return None, None


def _read_directory(caller: Caller, resource_type: str, resource_id: str, ctx):
    if resource_type == "Organization":
        if resource_id != caller.program.id:
            raise not_found(resource_type, resource_id)
        resource = patient_map.organization(caller.program, ctx)
    else:
        user = db.session.scalar(_staff_query(caller).where(User.id == resource_id))
        if user is None:
            raise not_found(resource_type, resource_id)
        resource = patient_map.practitioner(user, ctx)
    audit("read", f"fhir_{resource_type}", object_id=resource_id, actor=caller.client)
    return resource


def _staff_query(caller: Caller):
    return (
        select(User)
        .join(StaffMembership, StaffMembership.user_id == User.id)
        .where(
            StaffMembership.program_id == caller.program.id,
            User.role != Role.PATIENT,
        )
    )


def _in_program(caller: Caller, patient_id: str) -> bool:
    return sharing.is_enrolled(caller.program.id, patient_id)


def _audit_out_of_program(caller: Caller, resource_type: str) -> None:
    audit(
        "disclose",
        f"fhir_{resource_type}",
        outcome=Outcome.DENIED,
        actor=caller.client,
        detail="not a patient of the client's program",
    )


def _consent_or_refuse(caller, patient_id, interaction, types) -> sharing.Decision:
    decision = sharing.decide(caller.client, caller.program, patient_id)
    if not decision.allowed:
        _refuse(caller, patient_id, interaction, types, decision)
    return decision


def _refuse(caller, patient_id, interaction, types, decision, kind=None) -> None:
    reason = decision.reason or "not-covered"
    sharing.record_disclosure(
        caller.client,
        patient_id,
        interaction=interaction,
        resource_types=types,
        count=0,
        decision=decision,
        reason=reason,
    )
    text = decision.message or sharing.REFUSALS["not-covered"]
    if kind is not None and decision.allowed:
        text = f"{text} ({PATIENT_LABELS[kind].lower()})."
    raise FhirError(403, "forbidden", text)


# ---- search --------------------------------------------------------------------------


def search(caller: Caller, resource_type: str, args, ctx: MapContext, self_url: str):
    """A searchset Bundle: one patient's data or every shareable patient's."""
    require_scope(caller, resource_type, "search")
    allowed = PLAIN_PARAMS if resource_type in PLAIN_TYPES else COMPARTMENT_PARAMS
    try:
        params = parse_search(args, allowed)
    except SearchError as problem:
        raise FhirError(400, "not-supported", str(problem)) from None
    if resource_type in ("Practitioner", "Organization"):
        return Answer(_search_directory(caller, resource_type, params, ctx, self_url))
    parts = PARTS[resource_type]
    decision, patients = None, None
    if params.patient_id is not None:
        filters = _one_patient_filters(caller, resource_type, parts, params)
        if filters is None:
            return Answer(bundle("searchset", [], ctx.base, total=0))
        decision, patients = filters
        parts = tuple(p for p in parts if decision.covers(p.kind))
    page, more = _page(caller, parts, params, patients)
    return _searchset(
        caller, resource_type, page, more, params, ctx, self_url, decision
    )


PLAIN_TYPES = {"Patient", "Practitioner", "Organization"}


def _one_patient_filters(caller, resource_type, parts, params):
    """Consent for the named patient; None when they are not the program's."""
    if not FHIR_ID.match(params.patient_id) or not _in_program(
        caller, params.patient_id
    ):
        _audit_out_of_program(caller, resource_type)
        return None
    patient_id = params.patient_id
    decision = _consent_or_refuse(caller, patient_id, "search", [resource_type])
    if not any(decision.covers(p.kind) for p in parts):
        _refuse(caller, patient_id, "search", [resource_type], decision, parts[0].kind)
    return decision, one_patient(patient_id)


def _page(caller, parts, params: SearchParams, patients) -> tuple[list, bool]:
    """Merge the parts' rows newest first and cut one page; True if more follow."""
    wanted = params.offset + params.count + 1
    merged = []
    for part in parts:
        shareable = patients or sharing.shareable_patients(
            caller.client, caller.program, part.kind
        )
        rows = part.rows(
            caller.client,
            patients=shareable,
            dates=params.dates,
            updated=params.updated,
            ids=params.ids,
            limit=wanted,
        )
        merged += [(part, row) for row in rows]
    merged.sort(key=lambda item: when_of(item[1]), reverse=True)
    end = params.offset + params.count
    return merged[params.offset : end], len(merged) > end


def _searchset(caller, resource_type, page, more, params, ctx, self_url, decision):
    by_patient: dict[str, int] = defaultdict(int)
    entries = []
    for part, row in page:
        resource = part.to_fhir(row, ctx)
        patient_id = part.source.patient_of(row)
        by_patient[patient_id] += 1
        entries.append((resource, "match"))
    consents = (
        _consents_for(caller, list(by_patient))
        if ctx.part2 and by_patient and resource_type != "Consent"
        else {}
    )
    entries += [
        (consent.consent(row[0], row[1], row[2], ctx), "include")
        for row in consents.values()
    ]
    for patient_id, count in by_patient.items():
        row = consents.get(patient_id)
        sharing.record_disclosure(
            caller.client,
            patient_id,
            interaction="search",
            resource_types=[resource_type],
            count=count,
            decision=decision
            or sharing.Decision(True, ctx.part2, row[0] if row else None),
        )
    if not by_patient:
        audit("search", f"fhir_{resource_type}", actor=caller.client, detail="0")
    links = [("self", self_url)]
    if more:
        links.append(("next", _next_url(self_url, params)))
    body = bundle(
        "searchset",
        entries,
        ctx.base,
        links=links,
        bundle_meta=_bundle_meta(ctx) if by_patient else None,
    )
    return Answer(body, ctx.part2 and bool(by_patient))


def _consents_for(caller, patient_ids: list[str]) -> dict[str, tuple]:
    """The consents to this client under which these patients' data leaves
    (42 CFR 2.32(b): a copy of the consent goes with the disclosure)."""
    now = utcnow()
    rows = db.session.execute(
        sources.CONSENTS.statement(
            patients=lambda column: column.in_(patient_ids)
        ).where(
            RecordConsent.client_id == caller.client.id,
            RecordConsent.revoked_at.is_(None),
            RecordConsent.expires_at > now,
        )
    ).all()
    return {row[0].patient_id: row for row in rows}


def _bundle_meta(ctx: MapContext) -> dict | None:
    if not ctx.part2:
        return None
    result = meta(utcnow(), True)
    result["extension"] = [notice_extension(ctx.canonical)]
    return result


def _next_url(self_url: str, params: SearchParams) -> str:
    base = re.sub(r"([?&])_offset=\d+&?", r"\1", self_url).rstrip("?&")
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}_offset={params.offset + params.count}"


def _search_directory(caller, resource_type, params, ctx, self_url) -> dict:
    if resource_type == "Organization":
        programs = [caller.program] if _matches(caller.program, params) else []
        resources = [patient_map.organization(p, ctx) for p in programs]
    else:
        query = _staff_query(caller).order_by(User.display_name)
        if params.ids:
            query = query.where(User.id.in_(params.ids))
        users = [u for u in db.session.scalars(query) if _matches(u, params)]
        resources = [patient_map.practitioner(u, ctx) for u in users]
    audit("search", f"fhir_{resource_type}", actor=caller.client)
    page = resources[params.offset : params.offset + params.count]
    links = [("self", self_url)]
    if len(resources) > params.offset + params.count:
        links.append(("next", _next_url(self_url, params)))
    return bundle(
        "searchset",
        [(r, "match") for r in page],
        ctx.base,
        total=len(resources),
        links=links,
    )


def _matches(thing, params: SearchParams) -> bool:
    if params.ids and thing.id not in params.ids:
        return False
    window = params.updated
    if window is None:
        return True
    moment = thing.created_at
    return (window.low is None or moment >= window.low) and (
        window.high is None or moment < window.high
    )


# ---- $everything ---------------------------------------------------------------------


def everything(caller: Caller, patient_id: str, args, ctx: MapContext) -> Answer:
    """Patient/$everything: the patient's whole record (as far as scopes and consent
    allow), with the program and the staff it names, in one query per source."""
    require_scope(caller, "Patient", "read")
    dates, updated, types = _everything_params(args)
    part, row = (
        _find(caller, "Patient", patient_id)
        if FHIR_ID.match(patient_id)
        else (None, None)
    )
    if row is None or not _in_program(caller, patient_id):
        _audit_out_of_program(caller, "Patient")
        raise not_found("Patient", patient_id)
    wanted = [
        t
        for t in EVERYTHING_ORDER
        if scope_allows(caller.scopes, t, "search") and (not types or t in types)
    ]
    decision = _consent_or_refuse(caller, patient_id, "everything", wanted)
    entries, practitioners, sent = (
        [(part.to_fhir(row, ctx), "match")],
        set(),
        {"Patient"},
    )
    cache: dict[str, list] = {}
    for resource_type in wanted:
        for part in PARTS[resource_type]:
            if resource_type == "Patient" or not decision.covers(part.kind):
                continue
            name = part.source.name
            if name not in cache:
                cache[name] = part.rows(
                    caller.client,
                    patients=one_patient(patient_id),
                    dates=dates,
                    updated=updated,
                )
            for item in cache[name]:
                entries.append((part.to_fhir(item, ctx), "match"))
                practitioners.update(filter(None, part.practitioners(item)))
                sent.add(resource_type)
    entries += _directory_entries(caller, practitioners, types, ctx)
    sharing.record_disclosure(
        caller.client,
        patient_id,
        interaction="everything",
        resource_types=sorted(sent),
        count=len(entries),
        decision=decision,
    )
    body = bundle(
        "searchset",
        entries,
        ctx.base,
        total=len(entries),
        bundle_meta=_bundle_meta(ctx),
        timestamp=utcnow(),
    )
    return Answer(body, decision.part2)


def _everything_params(args):
    unknown = sorted(set(args) - EVERYTHING_PARAMS)
    if unknown:
        raise FhirError(400, "not-supported", f"Parameter not supported: {unknown[0]}")
    try:
        low = parse_instant(args["start"], "start") if args.get("start") else None
        high = _end_of(args["end"]) if args.get("end") else None
        since = parse_instant(args["_since"], "_since") if args.get("_since") else None
    except SearchError as problem:
        raise FhirError(400, "invalid", str(problem)) from None
    types = {t for t in args.get("_type", "").split(",") if t}
    unknown_types = types - set(PARTS) - {"Organization", "Practitioner"}
    if unknown_types:
        raise FhirError(
            400, "not-supported", f"Unknown type in _type: {sorted(unknown_types)[0]}"
        )
    dates = Window(low, high) if (low or high) else None
    return dates, Window(since, None) if since else None, types


def _end_of(value: str):
    from portal.blueprints.record.fhir.search import date_window

    return date_window(value).high


def _directory_entries(caller: Caller, practitioner_ids, types, ctx) -> list:
    """The program and the staff the record names, as far as scopes and _type allow."""

    def wanted(resource_type: str) -> bool:
        return scope_allows(caller.scopes, resource_type, "read") and (
            not types or resource_type in types
        )

    entries = []
    if wanted("Organization"):
        entries.append((patient_map.organization(caller.program, ctx), "include"))
    if practitioner_ids and wanted("Practitioner"):
        staff = db.session.scalars(
            _staff_query(caller).where(User.id.in_(sorted(practitioner_ids)))
        )
        entries += [(patient_map.practitioner(u, ctx), "include") for u in staff]
    return entries


def program_info(program: Program):
    from portal.blueprints.record.fhir.common import ProgramInfo

    return ProgramInfo(
        program.id, program.name, program.substance_use, program.timezone
    )
