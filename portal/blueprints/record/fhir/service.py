"""Read, search and $everything for an authenticated EHR client: program scope first
(404), then the patient's consent (403 with the reason), then the data, and an
accounting row and an audit row for every patient whose data was asked for."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from sqlalchemy import and_, false, func, or_, select

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import Program, StaffMembership
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
from portal.blueprints.record.fhir.facets import rows_matching
from portal.blueprints.record.fhir.registry import (
    EVERYTHING_ORDER,
    PARTS,
    token_params,
)
from portal.blueprints.record.fhir.search import (
    FHIR_ID,
    Cursor,
    SearchError,
    SearchParams,
    cursor_token,
    parse_instant,
    parse_search,
)
from portal.blueprints.record.kinds import PATIENT_LABELS
from portal.blueprints.record.models import RecordConsent
from portal.blueprints.record.sources import Window, one_patient, when_of
from portal.db import new_id, utcnow
from portal.security import Role

COMPARTMENT_PARAMS = {"patient", "subject", "date", "_lastUpdated", "_id"}
PLAIN_PARAMS = {"_id", "_lastUpdated"}
BIGINT_MAX = 2**63 - 1
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
    if not FHIR_ID.fullmatch(resource_id):
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
    if not FHIR_ID.fullmatch(resource_id):
        return None, None
    parts = PARTS.get(resource_type, ())
    ids = _row_ids(resource_type, (resource_id,))
    if not ids:
        return None, None
    for part in parts:
        row = db.session.execute(
            part.statement(caller.client, ids=ids, limit=1)
        ).first()
        if row is not None:
            if resource_type == "Patient" and row[0].role is not Role.PATIENT:
                return None, None
            return part, row
    return None, None


def _row_ids(resource_type: str, ids: tuple[str, ...]) -> tuple:
    """Ids as the source's key holds them: audit rows are numbered (a 64-bit
    integer), so any other id names none of them."""
    if resource_type != "AuditEvent":
        return ids
    return tuple(
        int(i) for i in ids if i.isascii() and i.isdigit() and int(i) <= BIGINT_MAX
    )


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

# Types whose R4 search parameters include `subject` beside `patient`.
SUBJECT_TYPES = {
    "Observation",
    "QuestionnaireResponse",
    "Flag",
    "RiskAssessment",
    "Encounter",
    "ServiceRequest",
    "Task",
    "Communication",
}


def search_params_of(resource_type: str) -> set[str]:
    """The non-token parameters a type is searched by (what the capability lists)."""
    if resource_type in PLAIN_TYPES:
        return set(PLAIN_PARAMS)
    names = COMPARTMENT_PARAMS - {"subject"}
    return names | {"subject"} if resource_type in SUBJECT_TYPES else names


def search(
    caller: Caller,
    resource_type: str,
    args,
    ctx: MapContext,
    base_url: str,
    strict: bool = False,
):
    """A searchset Bundle: one patient's data or every shareable patient's, with its
    total, a page after the cursor, and the parameters it ignored."""
    require_scope(caller, resource_type, "search")
    directory = resource_type in ("Practitioner", "Organization")
    tokens = token_params(resource_type, ctx)
    try:
        params = parse_search(
            args,
            search_params_of(resource_type),
            tokens=set(tokens),
            paging="_offset" if directory else "_cursor",
            strict=strict,
        )
    except SearchError as problem:
        raise FhirError(400, problem.code, str(problem)) from None
    if params.ids is not None:
        params = replace(params, ids=_row_ids(resource_type, params.ids))
    links = Links(base_url, args, params)
    if directory:
        body = _search_directory(caller, resource_type, params, ctx, links)
        return Answer(_with_outcome(body, params))
    parts = list(enumerate(PARTS[resource_type]))
    decision, patients = None, None
    if params.patient_id is not None:
        filters = _one_patient_filters(caller, resource_type, params)
        if filters is None:
            empty = bundle("searchset", [], ctx.base, total=0, links=links.first())
            return Answer(_with_outcome(empty, params))
        decision, patients = filters
        parts = [(rank, p) for rank, p in parts if decision.covers(p.kind)]
    found = Found(caller, parts, params, patients, ctx)
    if params.summary_count or params.count == 0:
        return _count_only(caller, resource_type, found, params, ctx, links)
    page, more = found.page()
    return _searchset(caller, resource_type, page, more, found, ctx, links, decision)


PLAIN_TYPES = {"Patient", "Practitioner", "Organization"}


class Links:
    """The self link names only the parameters used; next adds the cursor."""

    def __init__(self, base_url: str, args, params: SearchParams):
        dropped = {*params.ignored, "_cursor", "_offset"}
        self.base_url = base_url
        self.pairs = [
            (name, value)
            for name, values in args.lists()
            if name not in dropped
            for value in values
        ]
        self.params = params
        self.cursor = args.get("_cursor") if params.cursor is not None else None

    def url(self, **extra) -> str:
        pairs = self.pairs + [(k, v) for k, v in extra.items() if v is not None]
        return f"{self.base_url}?{urlencode(pairs)}" if pairs else self.base_url

    def first(self) -> list[tuple[str, str]]:
        offset = self.params.offset or None
        return [("self", self.url(_cursor=self.cursor, _offset=offset))]


class Found:
    """The rows a search selects, part by part: counted and paged in SQL."""

    def __init__(self, caller, parts, params: SearchParams, patients, ctx):
        self.caller, self.parts, self.params, self.ctx = caller, parts, params, ctx
        self.patients = patients

    def _filters(self, part) -> dict:
        shareable = self.patients or sharing.shareable_patients(
            self.caller.client, self.caller.program, part.kind
        )
        facets = part.facets(self.ctx)
        where = [
            rows_matching(facets.get(name, []), alternatives)
            for name, alternatives in self.params.tokens
        ]
        return {
            "patients": shareable,
            "dates": self.params.dates,
            "updated": self.params.updated,
            "ids": self.params.ids,
            "where": where,
        }

    def total(self) -> int:
        """Every matching row, whatever page is asked for: one count per part."""
        total = 0
        for _rank, part in self.parts:
            stmt = part.statement(self.caller.client, **self._filters(part))
            counted = stmt.order_by(None).subquery()
            total += db.session.scalar(select(func.count()).select_from(counted))
        return total

    def page(self) -> tuple[list, bool]:
        """Merge the parts' rows after the cursor and cut one page; True if more
        follow. Equal times keep each part's own SQL order (a stable sort)."""
        params, merged = self.params, []
        for rank, part in self.parts:
            filters = self._filters(part)
            if params.cursor is not None:
                filters["where"].append(
                    after_cursor(part, rank, params.cursor, params.ascending)
                )
            rows = part.rows(
                self.caller.client,
                limit=params.count + 1,
                ascending=params.ascending,
                **filters,
            )
            merged += [(rank, part, row) for row in rows]
        merged.sort(
            key=lambda item: (when_of(item[2]), item[0]), reverse=not params.ascending
        )
        return merged[: params.count], len(merged) > params.count


def after_cursor(part, rank: int, cursor: Cursor, ascending: bool):
    """Rows of one part that come after the cursor in (time, part, id) order."""
    column, id_column = part.source.date_col(), part.source.id_col()
    before, same, before_or_same = _time_clauses(column, cursor.when, part, ascending)
    row_id = cursor.row_id
    if part.source is sources.AUDIT:
        row_id = int(row_id) if row_id.isdigit() else 0
    if rank == cursor.rank:
        past_id = id_column > row_id if ascending else id_column < row_id
        return or_(before, and_(same, past_id))
    later_part = rank > cursor.rank if ascending else rank < cursor.rank
    return before_or_same if later_part else before


def _time_clauses(column, when: datetime, part, ascending: bool):
    """(strictly past the time, at the time, past or at) for the part's column; a
    column holding a day counts from that day's midnight UTC, as when_of does."""
    if part.source.date_is_day:
        midnight = when.timetz().replace(tzinfo=None) == time.min
        day = when.date()
        ceiling = day if midnight else day + timedelta(days=1)
        same = column == day if midnight else false()
        if ascending:
            return column > day, same, column >= ceiling
        return column < ceiling, same, column <= day
    if ascending:
        return column > when, column == when, column >= when
    return column < when, column == when, column <= when


def _one_patient_filters(caller, resource_type, params):
    """Consent for the named patient; None when they are not the program's."""
    if not FHIR_ID.fullmatch(params.patient_id) or not _in_program(
        caller, params.patient_id
    ):
        _audit_out_of_program(caller, resource_type)
        return None
    patient_id = params.patient_id
    decision = _consent_or_refuse(caller, patient_id, "search", [resource_type])
    parts = PARTS[resource_type]
    if not any(decision.covers(p.kind) for p in parts):
        _refuse(caller, patient_id, "search", [resource_type], decision, parts[0].kind)
    return decision, one_patient(patient_id)


def _count_only(caller, resource_type, found: Found, params, ctx, links):
    """_summary=count (or _count=0): how many match, and no resource."""
    total = found.total()
    audit(
        "search",
        f"fhir_{resource_type}",
        patient_id=params.patient_id,
        actor=caller.client,
        detail=f"count only: {total}",
    )
    body = bundle("searchset", [], ctx.base, total=total, links=links.first())
    return Answer(_with_outcome(body, params))


def _with_outcome(body: dict, params: SearchParams) -> dict:
    """Parameters ignored are reported in an OperationOutcome entry (search mode
    outcome), so a client knows its search was wider than it asked."""
    if not params.ignored:
        return body
    names = ", ".join(sorted(set(params.ignored)))
    outcome = operation_outcome(
        "not-supported",
        f"Search parameters not supported here and ignored: {names}",
        severity="warning",
    )
    outcome["id"] = new_id()
    entry = bundle("searchset", [(outcome, "outcome")], "")["entry"][0]
    body.setdefault("entry", []).append(entry)
    return body


def _searchset(caller, resource_type, page, more, found, ctx, links, decision):
    params = found.params
    by_patient: dict[str, int] = defaultdict(int)
    entries = []
    for _rank, part, row in page:
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
    link_list = links.first()
    if more and page:
        rank, _part, row = page[-1]
        last = Cursor(when_of(row), rank, str(row[0].id))
        link_list.append(("next", links.url(_cursor=cursor_token(last))))
    body = bundle(
        "searchset",
        entries,
        ctx.base,
        total=found.total(),
        links=link_list,
        bundle_meta=_bundle_meta(ctx) if by_patient else None,
    )
    return Answer(_with_outcome(body, params), ctx.part2 and bool(by_patient))


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


def _search_directory(caller, resource_type, params, ctx, links: Links) -> dict:
    if resource_type == "Organization":
        programs = [caller.program] if _matches(caller.program, params) else []
        resources = [patient_map.organization(p, ctx) for p in programs]
    else:
        query = _staff_query(caller).order_by(User.display_name, User.id)
        if params.ids is not None:
            query = query.where(User.id.in_(params.ids))
        users = [u for u in db.session.scalars(query) if _matches(u, params)]
        resources = [patient_map.practitioner(u, ctx) for u in users]
    audit("search", f"fhir_{resource_type}", actor=caller.client)
    end = params.offset + params.count
    page = [] if params.summary_count else resources[params.offset : end]
    link_list = links.first()
    if page and len(resources) > end:
        link_list.append(("next", links.url(_offset=end)))
    return bundle(
        "searchset",
        [(r, "match") for r in page],
        ctx.base,
        total=len(resources),
        links=link_list,
    )


def _matches(thing, params: SearchParams) -> bool:
    if params.ids is not None and thing.id not in params.ids:
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
        if FHIR_ID.fullmatch(patient_id)
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
    repeated = sorted(name for name in args if len(args.getlist(name)) > 1)
    if repeated:
        raise FhirError(400, "not-supported", f"Give {repeated[0]} once.")
    try:
        low = parse_instant(args["start"], "start") if args.get("start") else None
        high = _end_of(args["end"]) if args.get("end") else None
        since = parse_instant(args["_since"], "_since") if args.get("_since") else None
    except SearchError as problem:
        raise FhirError(400, problem.code, str(problem)) from None
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
