"""Asking for help, routing to a case manager, the triage queue, claims, status moves,
notes, the patient's view, response-time rules and the director's report.

Services change models, write audit rows and notifications (the outbox) and flush;
the request commits once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.orm.exc import StaleDataError

from portal import db
from portal.audit import audit, audit_many
from portal.blueprints.auth.models import Role, User
from portal.blueprints.needs.models import (
    CONTACT_STATUSES,
    NEXT_STATUSES,
    OPEN_STATUSES,
    OTHER_NEED_CATEGORY,
    OUTCOME_REQUIRED,
    REASON_REQUIRED,
    CaseManagerAway,
    EventKind,
    HousingSituation,
    Need,
    NeedEvent,
    NeedKind,
    NeedOutcome,
    NeedSlaRule,
    OtherNeed,
    SdohCategory,
    TaskStatus,
    Urgency,
)
from portal.blueprints.needs.sla import (
    DEFAULT_RULES,
    Clock,
    Rule,
    deadlines,
    open_time_between,
    transport_urgency,
)
from portal.blueprints.notifications.models import NotificationKind
from portal.blueprints.notifications.services import notify
from portal.blueprints.staff.models import (
    CareTeamAssignment,
    Program,
    StaffMembership,
    TeamRole,
)
from portal.blueprints.staff.services import program_director_ids
from portal.db import utcnow
from portal.security import staff_program_ids

PER_PAGE = 25
VIEWS = ("all", "mine", "unassigned", "overdue")


class NeedConflict(Exception):
    """The request changed since the form was opened; nothing was saved."""


class NeedStepError(ValueError):
    """A change that cannot be made as asked; the message says why in plain words."""


def clock_of(program: Program) -> Clock:
    return Clock(program.opening_hours or {}, program.timezone)


def patient_target(need: Need) -> str:
    return f"/help/{need.id}"


def staff_target(need: Need) -> str:
    return f"/staff/needs/{need.id}"


# ---- response-time rules ----------------------------------------------------------


def sla_rules(program_id: str) -> dict[tuple[NeedKind, Urgency], Rule]:
    """The program's rules, with the defaults where it has set none."""
    rules = {key: Rule(*value) for key, value in DEFAULT_RULES.items()}
    for row in db.session.scalars(
        select(NeedSlaRule).where(NeedSlaRule.program_id == program_id)
    ):
        rules[(row.kind, row.urgency)] = Rule(row.contact_hours, row.resolve_hours)
    return rules


def sla_rule(program_id: str, kind: NeedKind, urgency: Urgency) -> Rule:
    row = db.session.get(NeedSlaRule, (program_id, kind, urgency))
    if row is None:
        return Rule(*DEFAULT_RULES[(kind, urgency)])
    return Rule(row.contact_hours, row.resolve_hours)


def save_sla_rules(
    program: Program, rules: dict[tuple[NeedKind, Urgency], Rule]
) -> None:
    """Set the program's rules (for requests made from now on)."""
    for (kind, urgency), rule in rules.items():
        row = db.session.get(NeedSlaRule, (program.id, kind, urgency))
        if row is None:
            row = NeedSlaRule(program_id=program.id, kind=kind, urgency=urgency)
            db.session.add(row)
        row.contact_hours, row.resolve_hours = rule.contact_hours, rule.resolve_hours
    db.session.flush()
    audit("update", "need_sla_rules", object_id=program.id)


def _schedule(need: Need, clock: Clock, start: datetime, rule: Rule) -> None:
    """Set the deadlines from `start` and the next one due."""
    due = deadlines(clock, rule, need.kind, start, need.ride_at)
    need.contact_due_at, need.resolve_due_at = due.contact_due, due.resolve_due
    _set_next_due(need)


def _set_next_due(need: Need) -> None:
    """The deadline the queue sorts on: first contact until it happens, then the
    resolution; none while on hold or once closed (the clock stops)."""
    if not need.is_open or need.status is TaskStatus.ON_HOLD:
        need.due_at = None
    elif need.first_contact_at is None:
        candidates = [d for d in (need.contact_due_at, need.resolve_due_at) if d]
        need.due_at = min(candidates) if candidates else None
    else:
        need.due_at = need.resolve_due_at


# ---- asking -----------------------------------------------------------------------


@dataclass
class AskData:
    """What a patient asks for, already validated by the form."""

    kind: NeedKind
    urgency: Urgency | None = None
    other_need: OtherNeed | None = None
    housing_situation: HousingSituation | None = None
    ride_at: datetime | None = None
    pickup: str | None = None
    destination: str | None = None
    wheelchair: bool = False
    access_needs: str | None = None
    companions: str | None = None
    details: str | None = None


def category_for(data: AskData) -> SdohCategory:
    """The Gravity SDOH category of what was asked."""
    if data.kind is NeedKind.TRANSPORT:
        return SdohCategory.TRANSPORTATION
    if data.kind is NeedKind.HOUSING:
        homeless = {HousingSituation.HOMELESS, HousingSituation.SHELTER}
        return (
            SdohCategory.HOMELESSNESS
            if data.housing_situation in homeless
            else SdohCategory.HOUSING_INSTABILITY
        )
    return OTHER_NEED_CATEGORY[data.other_need]


def ask_for_help(patient: User, program: Program, data: AskData) -> Need:
    """Record a patient's request, set its deadlines and route it to a case manager."""
    clock, now = clock_of(program), utcnow()
    urgency = data.urgency or Urgency.ROUTINE
    if data.kind is NeedKind.TRANSPORT and data.ride_at is not None:
        urgency = transport_urgency(clock, now, data.ride_at)
    need = Need(
        patient_id=patient.id,
        program_id=program.id,
        kind=data.kind,
        category=category_for(data),
        other_need=data.other_need,
        urgency=urgency,
        status=TaskStatus.REQUESTED,
        ride_at=data.ride_at,
        pickup=data.pickup,
        destination=data.destination,
        wheelchair=data.wheelchair,
        access_needs=data.access_needs,
        companions=data.companions,
        housing_situation=data.housing_situation,
        details=data.details,
        created_at=now,
        updated_at=now,
    )
    _schedule(need, clock, now, sla_rule(program.id, data.kind, urgency))
    db.session.add(need)
    db.session.flush()
    _event(
        need, patient, EventKind.CREATED, to_status=TaskStatus.REQUESTED, visible=True
    )
    audit("create", "need", patient_id=patient.id, object_id=need.id)
    route_need_to_case_manager(need)
    return need


def route_need_to_case_manager(need: Need) -> User | None:
    """The patient's own case manager, else the program's least-loaded one who is not
    away; with nobody available the request waits unassigned and directors are told."""
    owner = _own_case_manager(need) or least_loaded_case_manager(need.program_id)
    need.owner_id = owner.id if owner else None
    db.session.flush()
    if owner is None:
        for director_id in program_director_ids(need.program_id):
            notify(
                director_id,
                NotificationKind.NEED_UPDATE,
                need,
                patient_id=need.patient_id,
                target=staff_target(need),
            )
        return None
    _event(need, None, EventKind.ROUTED, owner_id=owner.id)
    notify(
        owner,
        NotificationKind.NEED_UPDATE,
        need,
        patient_id=need.patient_id,
        target=staff_target(need),
    )
    return owner


def _available_case_managers(program_id: str):
    """Active case managers of the program who are not away now."""
    away = exists().where(
        CaseManagerAway.staff_id == User.id, CaseManagerAway.until > utcnow()
    )
    return (
        select(User)
        .join(StaffMembership, StaffMembership.user_id == User.id)
        .where(
            StaffMembership.program_id == program_id,
            User.role == Role.CASE_MANAGER,
            User.is_active.is_(True),
            ~away,
        )
    )


def _own_case_manager(need: Need) -> User | None:
    return db.session.scalar(
        _available_case_managers(need.program_id)
        .join(CareTeamAssignment, CareTeamAssignment.staff_id == User.id)
        .where(
            CareTeamAssignment.patient_id == need.patient_id,
            CareTeamAssignment.team_role == TeamRole.CASE_MANAGER,
        )
        .limit(1)
    )


def least_loaded_case_manager(program_id: str) -> User | None:
    """The available case manager with the fewest open requests (ties: by name)."""
    load = (
        select(func.count(Need.id))
        .where(Need.owner_id == User.id, Need.status.in_(OPEN_STATUSES))
        .scalar_subquery()
    )
    return db.session.scalar(
        _available_case_managers(program_id)
        .order_by(load, User.display_name, User.id)
        .limit(1)
    )


def program_case_managers(program_id: str) -> list[User]:
    """Active case managers of the program (for reassigning), by name."""
    return list(
        db.session.scalars(
            select(User)
            .join(StaffMembership, StaffMembership.user_id == User.id)
            .where(
                StaffMembership.program_id == program_id,
                User.role == Role.CASE_MANAGER,
                User.is_active.is_(True),
            )
            .order_by(User.display_name)
        )
    )


def _event(
    need: Need,
    actor: User | None,
    kind: EventKind,
    *,
    visible: bool = False,
    **values,
) -> NeedEvent:
    event = NeedEvent(
        need_id=need.id,
        actor_id=actor.id if actor else None,
        kind=kind,
        patient_visible=visible,
        at=utcnow(),
        **values,
    )
    db.session.add(event)
    return event


# ---- loading with the object checked against the user -----------------------------


def _looks_like_id(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4


@dataclass
class NeedView:
    """A request with the names and program its pages show."""

    need: Need
    patient_name: str
    owner_name: str | None
    program: Program


def load_need_view(user: User, need_id: str, staff: bool = False) -> NeedView | None:
    """One query: the request if the user may see it (their own, or for staff one of
    their programs'), with names and program; else None."""
    if not _looks_like_id(need_id):
        return None
    patient, owner = aliased(User), aliased(User)
    scope = (
        Need.program_id.in_(staff_program_ids(user))
        if staff
        else Need.patient_id == user.id
    )
    row = db.session.execute(
        select(Need, patient.display_name, owner.display_name, Program)
        .join(patient, patient.id == Need.patient_id)
        .outerjoin(owner, owner.id == Need.owner_id)
        .join(Program, Program.id == Need.program_id)
        .where(Need.id == need_id, scope)
    ).one_or_none()
    return NeedView(*row) if row else None


# ---- the patient's view -----------------------------------------------------------


@dataclass
class PatientNeedRow:
    need: Need
    owner_name: str | None


def patient_needs(patient: User, limit: int = 50) -> list[PatientNeedRow]:
    """The patient's requests, open ones first, newest first; audited."""
    owner = aliased(User)
    is_closed = Need.status.not_in(OPEN_STATUSES)
    rows = db.session.execute(
        select(Need, owner.display_name)
        .outerjoin(owner, owner.id == Need.owner_id)
        .where(Need.patient_id == patient.id)
        .order_by(is_closed, Need.created_at.desc())
        .limit(limit)
    ).all()
    audit("read", "need", patient_id=patient.id, detail=f"{len(rows)} requests")
    return [PatientNeedRow(need, name) for need, name in rows]


def timeline(
    need: Need, *, for_patient: bool
) -> list[tuple[NeedEvent, str | None, str | None]]:
    """The request's events in order with the actor's and new owner's names; a patient
    sees only what is meant for them."""
    actor, owner = aliased(User), aliased(User)
    query = (
        select(NeedEvent, actor.display_name, owner.display_name)
        .outerjoin(actor, actor.id == NeedEvent.actor_id)
        .outerjoin(owner, owner.id == NeedEvent.owner_id)
        .where(NeedEvent.need_id == need.id)
        .order_by(NeedEvent.at, NeedEvent.id)
    )
    if for_patient:
        query = query.where(NeedEvent.patient_visible.is_(True))
    return [(e, a, o) for e, a, o in db.session.execute(query).all()]


def add_patient_info(patient: User, need: Need, text: str) -> None:
    """The patient adds information to an open request; its owner is told."""
    if not need.is_open:
        raise NeedStepError("This request is closed. Ask again if you still need help.")
    _event(need, patient, EventKind.PATIENT_INFO, body=text, visible=True)
    _touch(need)
    audit(
        "update",
        "need",
        patient_id=patient.id,
        object_id=need.id,
        detail="patient added information",
    )
    _tell_owner(need)


def cancel_by_patient(patient: User, need: Need, reason: str) -> None:
    """The patient cancels their own open request, with a reason."""
    if not need.is_open:
        raise NeedStepError("This request is already closed.")
    _move(need, patient, TaskStatus.CANCELLED, reason=reason)
    _touch(need)
    audit(
        "update",
        "need",
        patient_id=patient.id,
        object_id=need.id,
        detail="cancelled by patient",
    )
    _tell_owner(need)


def _tell_owner(need: Need) -> None:
    if need.owner_id:
        notify(
            need.owner_id,
            NotificationKind.NEED_UPDATE,
            need,
            patient_id=need.patient_id,
            target=staff_target(need),
        )


def _tell_patient(need: Need) -> None:
    notify(
        need.patient_id,
        NotificationKind.NEED_UPDATE,
        need,
        patient_id=need.patient_id,
        target=patient_target(need),
    )


def _touch(need: Need) -> None:
    """Write the request row (a new version): flushing raises NeedConflict when
    someone else changed it first."""
    need.updated_at = utcnow()
    try:
        db.session.flush()
    except StaleDataError as stale:
        raise NeedConflict() from stale


# ---- triage -----------------------------------------------------------------------


@dataclass
class QueueFilter:
    view: str = "all"
    kind: NeedKind | None = None
    page: int = 1


@dataclass
class QueueRow:
    need: Need
    patient_name: str
    owner_name: str | None
    timezone: str


@dataclass
class QueuePage:
    rows: list[QueueRow]
    view_counts: dict[str, int]
    kind_counts: dict[str, int]
    page: int
    pages: int
    now: datetime
    filter: QueueFilter = field(default_factory=QueueFilter)


# The queue's statements are built once per filter and kind, with the staff member,
# the time and the page as bound values: building a select costs more CPU than
# running it (bench/README.md).
STAFF_ID, NOW = bindparam("staff_id"), bindparam("now")


def _view_clause(view: str):
    return {
        "all": None,
        "mine": Need.owner_id == STAFF_ID,
        "unassigned": Need.owner_id.is_(None),
        "overdue": Need.due_at < NOW,
    }[view]


def _kind_clause(kind: NeedKind | None):
    return None if kind is None else Need.kind == kind


def _both(*clauses):
    present = [c for c in clauses if c is not None]
    return and_(*present) if present else None


def _count(clause):
    return (
        func.count(Need.id).filter(clause)
        if clause is not None
        else func.count(Need.id)
    )


def _is_open():
    """Open statuses as literals in the SQL: PostgreSQL then matches the queue index's
    predicate even in a prepared statement's generic plan."""
    values = [status.value for status in OPEN_STATUSES]
    return Need.status.in_(
        bindparam("open_statuses", values, expanding=True, literal_execute=True)
    )


def _open_in_programs():
    programs = select(StaffMembership.program_id).where(
        StaffMembership.user_id == STAFF_ID
    )
    return (Need.program_id.in_(programs), _is_open())


def triage_queue(staff: User, flt: QueueFilter, per_page: int = PER_PAGE) -> QueuePage:
    """One page of the open requests of the staff member's programs, most urgent and
    soonest due first, with the count of every filter: two queries and one audit."""
    now = utcnow()
    values = {"staff_id": staff.id, "now": now}
    counts = db.session.execute(_counts_statement(flt.view, flt.kind), values).one()
    view_counts = {view: counts._mapping[view] for view in VIEWS}
    kind_counts = {kind.value: counts._mapping[kind.value] for kind in NeedKind}
    kind_counts["any"] = counts._mapping["any_kind"]
    pages = max(1, math.ceil(view_counts[flt.view] / per_page))
    page = min(max(1, flt.page), pages)
    values |= {"limit": per_page, "offset": (page - 1) * per_page}
    rows = [
        QueueRow(*row)
        for row in db.session.execute(_page_statement(flt.view, flt.kind), values)
    ]
    audit_many("read", "need", [(r.need.patient_id, r.need.id) for r in rows])
    flt.page = page
    return QueuePage(rows, view_counts, kind_counts, page, pages, now, flt)


@cache
def _counts_statement(view: str, kind: NeedKind | None):
    """Every filter's count in one pass: the views within the chosen kind, the kinds
    within the chosen view."""
    kind_clause, view_clause = _kind_clause(kind), _view_clause(view)
    columns = (
        [_count(_both(_view_clause(v), kind_clause)).label(v) for v in VIEWS]
        + [_count(_both(view_clause, _kind_clause(k))).label(k.value) for k in NeedKind]
        + [_count(view_clause).label("any_kind")]
    )
    return select(*columns).where(*_open_in_programs())


QUEUE_ORDER = (Need.urgency, Need.due_at.asc().nulls_last(), Need.created_at, Need.id)


@cache
def _page_statement(view: str, kind: NeedKind | None):
    """The page's ids first, from the queue index alone; then names and time zone for
    those rows only (joining before the LIMIT would join every open request)."""
    page = (
        select(Need.id)
        .where(*_open_in_programs())
        .order_by(*QUEUE_ORDER)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    clause = _both(_view_clause(view), _kind_clause(kind))
    if clause is not None:
        page = page.where(clause)
    page = page.subquery()
    patient, owner = aliased(User), aliased(User)
    return (
        select(Need, patient.display_name, owner.display_name, Program.timezone)
        .join(page, page.c.id == Need.id)
        .join(patient, patient.id == Need.patient_id)
        .outerjoin(owner, owner.id == Need.owner_id)
        .join(Program, Program.id == Need.program_id)
        .order_by(*QUEUE_ORDER)
    )


def claim_need(staff: User, need: Need) -> bool:
    """Take an unassigned open request. One conditional UPDATE: when many claim at
    once exactly one wins; the others get False."""
    now = utcnow()
    result = db.session.execute(
        update(Need)
        .where(
            Need.id == need.id,
            Need.owner_id.is_(None),
            Need.status.in_(OPEN_STATUSES),
        )
        .values(owner_id=staff.id, version=Need.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.expire(need)
        return False
    db.session.expire(need)
    _event(need, staff, EventKind.CLAIMED, owner_id=staff.id)
    audit(
        "update",
        "need",
        patient_id=need.patient_id,
        object_id=need.id,
        detail="claimed",
    )
    _tell_patient(need)
    return True


def reassign_need(
    staff: User, need: Need, version: int, to_id: str | None, reason: str
) -> None:
    """Give the request to another case manager, or back to the queue, with a reason."""
    if version != need.version:
        raise NeedConflict()
    if not need.is_open:
        raise NeedStepError("This request is closed; it cannot be reassigned.")
    if to_id and to_id not in {u.id for u in program_case_managers(need.program_id)}:
        raise NeedStepError("Choose a case manager of this program.")
    if (to_id or None) == need.owner_id:
        raise NeedStepError("It is already with that person. Choose someone else.")
    need.owner_id = to_id or None
    _event(need, staff, EventKind.REASSIGNED, owner_id=need.owner_id, reason=reason)
    _touch(need)
    audit(
        "update",
        "need",
        patient_id=need.patient_id,
        object_id=need.id,
        detail="reassigned",
    )
    if need.owner_id and need.owner_id != staff.id:
        _tell_owner(need)
    _tell_patient(need)


@dataclass
class NeedChange:
    """One save of the staff form: any of status, urgency, a note."""

    version: int
    status: TaskStatus
    reason: str | None = None
    note: str | None = None
    note_visible: bool = False
    outcome: NeedOutcome | None = None
    outcome_note: str | None = None
    urgency: Urgency | None = None


def allowed_statuses(need: Need) -> tuple[TaskStatus, ...]:
    return NEXT_STATUSES.get(need.status, ())


def update_need(staff: User, need: Need, change: NeedChange, program: Program) -> None:
    """Apply a staff member's change. A stale version raises NeedConflict and saves
    nothing, so that the other person's change is never overwritten unseen."""
    if change.version != need.version:
        raise NeedConflict()
    _check_change(need, change)
    visible_change = False
    if change.urgency is not None and change.urgency != need.urgency:
        _set_urgency(staff, need, change.urgency, program)
    if change.status != need.status:
        _move(
            need,
            staff,
            change.status,
            reason=change.reason,
            outcome=change.outcome,
            outcome_note=change.outcome_note,
            program=program,
        )
        visible_change = True
    if change.note:
        _event(
            need, staff, EventKind.NOTE, body=change.note, visible=change.note_visible
        )
        visible_change = visible_change or change.note_visible
        if change.note_visible:
            _first_contact(need)
    _touch(need)
    audit("update", "need", patient_id=need.patient_id, object_id=need.id)
    if visible_change:
        _tell_patient(need)


def _check_change(need: Need, change: NeedChange) -> None:
    moving = change.status != need.status
    if not need.is_open and (moving or change.urgency not in (None, need.urgency)):
        raise NeedStepError("This request is closed. You can still add a note.")
    if moving and change.status not in allowed_statuses(need):
        raise NeedStepError(
            f"A request that is {need.status.value} cannot become "
            f"{change.status.value}."
        )
    if moving and change.status in REASON_REQUIRED and not change.reason:
        raise NeedStepError(f"Write a reason for {change.status.value}.")
    if moving and change.status in OUTCOME_REQUIRED and change.outcome is None:
        raise NeedStepError("Choose the outcome.")
    nothing = not moving and not change.note and change.urgency in (None, need.urgency)
    if nothing:
        raise NeedStepError(
            "Nothing to save: change the status, urgency or add a note."
        )


def _move(
    need: Need,
    actor: User,
    to: TaskStatus,
    *,
    reason: str | None = None,
    outcome: NeedOutcome | None = None,
    outcome_note: str | None = None,
    program: Program | None = None,
) -> None:
    """Change the status, record it, and move the clock: on hold stops it, resuming
    restarts the resolution clock, closing ends it."""
    now, was = utcnow(), need.status
    need.status, need.status_reason = to, reason
    if to in CONTACT_STATUSES and actor.is_staff:
        _first_contact(need)
    if not need.is_open:
        need.closed_at = now
        need.outcome, need.outcome_note = outcome, outcome_note
    elif was is TaskStatus.ON_HOLD and program is not None:
        rule = sla_rule(need.program_id, need.kind, need.urgency)
        fresh = deadlines(clock_of(program), rule, need.kind, now, need.ride_at)
        need.resolve_due_at = fresh.resolve_due
    _set_next_due(need)
    _event(
        need,
        actor,
        EventKind.STATUS,
        from_status=was,
        to_status=to,
        reason=reason,
        visible=True,
    )


def _first_contact(need: Need) -> None:
    if need.first_contact_at is None:
        need.first_contact_at = utcnow()
        _set_next_due(need)


def _set_urgency(staff: User, need: Need, urgency: Urgency, program: Program) -> None:
    """Re-rate the request; its deadlines count again from when it was asked."""
    need.urgency = urgency
    rule = sla_rule(need.program_id, need.kind, urgency)
    _schedule(need, clock_of(program), need.created_at, rule)
    _event(need, staff, EventKind.URGENCY, reason=urgency.name.lower())


# ---- time away --------------------------------------------------------------------


def away_until(staff: User) -> datetime | None:
    row = db.session.get(CaseManagerAway, staff.id)
    return row.until if row and row.until > utcnow() else None


def set_away(staff: User, until: datetime | None) -> None:
    """Mark myself away until a moment (new requests go to others), or back now."""
    row = db.session.get(CaseManagerAway, staff.id)
    if until is None:
        if row is not None:
            db.session.delete(row)
    elif row is None:
        db.session.add(CaseManagerAway(staff_id=staff.id, until=until))
    else:
        row.until, row.set_at = until, utcnow()
    db.session.flush()
    audit("update", "availability", object_id=staff.id)


# ---- the director's report --------------------------------------------------------


@dataclass
class KindFigures:
    kind: NeedKind
    asked: int = 0
    contacted: int = 0
    contact_on_time: int = 0
    contact_hours: list[float] = field(default_factory=list)
    resolved: int = 0
    resolve_on_time: int = 0
    resolve_hours: list[float] = field(default_factory=list)
    open_now: int = 0
    overdue_now: int = 0

    @staticmethod
    def _median(values: list[float]) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        middle = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[middle]
        return (ordered[middle - 1] + ordered[middle]) / 2

    @property
    def median_contact(self) -> float | None:
        return self._median(self.contact_hours)

    @property
    def median_resolve(self) -> float | None:
        return self._median(self.resolve_hours)


@dataclass
class LoadRow:
    staff_id: str
    name: str
    open: int
    urgent: int
    overdue: int
    away_until: datetime | None


@dataclass
class Report:
    days: int
    kinds: list[KindFigures]
    load: list[LoadRow]
    unassigned: int


def needs_report(director: User, days: int = 90) -> Report:
    """Response times in opening hours by kind over the last `days`, overdue counts
    and open load per case manager, for the director's programs."""
    now = utcnow()
    programs = {
        p.id: clock_of(p)
        for p in db.session.scalars(
            select(Program).where(Program.id.in_(staff_program_ids(director)))
        )
    }
    figures = {kind: KindFigures(kind) for kind in NeedKind}
    recent = db.session.execute(
        select(
            Need.kind,
            Need.program_id,
            Need.created_at,
            Need.first_contact_at,
            Need.contact_due_at,
            Need.closed_at,
            Need.resolve_due_at,
            Need.status,
            Need.due_at,
            Need.owner_id,
        ).where(
            Need.program_id.in_(list(programs)),
            or_(
                Need.created_at >= now - timedelta(days=days),
                Need.status.in_(OPEN_STATUSES),
            ),
        )
    ).all()
    for row in recent:
        _tally(figures[row.kind], programs[row.program_id], row, now)
    audit("read", "need_report", detail=f"{len(recent)} requests, {days} days")
    unassigned = sum(
        1 for r in recent if r.status in OPEN_STATUSES and r.owner_id is None
    )
    return Report(days, list(figures.values()), _load(programs, now), unassigned)


def _tally(fig: KindFigures, clock: Clock, row, now: datetime) -> None:
    if row.status in OPEN_STATUSES:
        fig.open_now += 1
        fig.overdue_now += int(row.due_at is not None and row.due_at < now)
    if row.first_contact_at:
        fig.contacted += 1
        hours = open_time_between(clock, row.created_at, row.first_contact_at)
        fig.contact_hours.append(hours.total_seconds() / 3600)
        on_time = (
            row.contact_due_at is None or row.first_contact_at <= row.contact_due_at
        )
        fig.contact_on_time += int(on_time)
    if row.status is TaskStatus.COMPLETED and row.closed_at:
        fig.resolved += 1
        hours = open_time_between(clock, row.created_at, row.closed_at)
        fig.resolve_hours.append(hours.total_seconds() / 3600)
        on_time = row.resolve_due_at is None or row.closed_at <= row.resolve_due_at
        fig.resolve_on_time += int(on_time)
    fig.asked += 1


def _load(programs: dict[str, Clock], now: datetime) -> list[LoadRow]:
    """Every case manager of the programs with their open, urgent and overdue counts."""
    is_open = and_(Need.owner_id == User.id, Need.status.in_(OPEN_STATUSES))
    rows = db.session.execute(
        select(
            User.id,
            User.display_name,
            func.count(Need.id),
            func.count(Need.id).filter(Need.urgency == Urgency.URGENT),
            func.count(Need.id).filter(Need.due_at < now),
            CaseManagerAway.until,
        )
        .outerjoin(Need, is_open)
        .outerjoin(CaseManagerAway, CaseManagerAway.staff_id == User.id)
        .where(
            User.id.in_(
                select(StaffMembership.user_id).where(
                    StaffMembership.program_id.in_(list(programs))
                )
            ),
            User.role == Role.CASE_MANAGER,
        )
        .group_by(User.id, User.display_name, CaseManagerAway.until)
        .order_by(func.count(Need.id).desc(), User.display_name)
    ).all()
    return [
        LoadRow(
            sid, name, total, urgent, overdue, until if until and until > now else None
        )
        for sid, name, total, urgent, overdue, until in rows
    ]
