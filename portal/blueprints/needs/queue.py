"""The case managers' triage queue: one page of open requests with every filter's
count."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import aliased

from portal import db
from portal.audit import audit_many
from portal.blueprints.auth.models import User
from portal.blueprints.needs.models import OPEN_STATUSES, Need, NeedKind
from portal.blueprints.programs.models import Program, StaffMembership
from portal.blueprints.safety.services import open_flag_status
from portal.db import utcnow

PER_PAGE = 25
VIEWS = ("all", "mine", "unassigned", "overdue")


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
    safety_alert: str | None  # the patient's open risk flag's status, no content


@dataclass
class QueuePage:
    rows: list[QueueRow]
    view_counts: dict[str, int]
    kind_counts: dict[str, int]
    page: int
    pages: int
    now: datetime
    filter: QueueFilter = field(default_factory=QueueFilter)


QUEUE_ORDER = (Need.urgency, Need.due_at.asc().nulls_last(), Need.created_at, Need.id)


def _view_clause(view: str, staff: User, now: datetime):
    return {
        "all": None,
        "mine": Need.owner_id == staff.id,
        "unassigned": Need.owner_id.is_(None),
        "overdue": Need.due_at < now,
    }[view]


def _kind_clause(kind: NeedKind | None):
    return None if kind is None else Need.kind == kind


def _count(*clauses):
    """The count of open requests matching every clause given (None: no condition)."""
    present = [c for c in clauses if c is not None]
    if not present:
        return func.count(Need.id)
    return func.count(Need.id).filter(and_(*present))


def _open_in_programs(staff: User):
    """Open requests of the staff member's programs, the open statuses as literals in
    the SQL: PostgreSQL then matches the queue index's predicate even in a prepared
    statement's generic plan."""
    programs = select(StaffMembership.program_id).where(
        StaffMembership.user_id == staff.id
    )
    values = [status.value for status in OPEN_STATUSES]
    is_open = Need.status.in_(
        bindparam("open_statuses", values, expanding=True, literal_execute=True)
    )
    return (Need.program_id.in_(programs), is_open)


def triage_queue(staff: User, flt: QueueFilter, per_page: int = PER_PAGE) -> QueuePage:
    """One page of the open requests of the staff member's programs, most urgent and
    soonest due first, with the count of every filter: two queries and one audit."""
    now = utcnow()
    in_queue = _open_in_programs(staff)
    view_clause = _view_clause(flt.view, staff, now)
    kind_clause = _kind_clause(flt.kind)
    # Every filter's count in one pass: the views within the chosen kind, the kinds
    # within the chosen view.
    counts = db.session.execute(
        select(
            *[_count(_view_clause(v, staff, now), kind_clause).label(v) for v in VIEWS],
            *[_count(view_clause, _kind_clause(k)).label(k.value) for k in NeedKind],
            _count(view_clause).label("any_kind"),
        ).where(*in_queue)
    ).one()
    view_counts = {view: counts._mapping[view] for view in VIEWS}
    kind_counts = {kind.value: counts._mapping[kind.value] for kind in NeedKind}
    kind_counts["any"] = counts._mapping["any_kind"]
    pages = max(1, math.ceil(view_counts[flt.view] / per_page))
    page = min(max(1, flt.page), pages)
    # The page's ids first, from the queue index alone; then names and time zone for
    # those rows only (joining before the LIMIT would join every open request).
    ids = (
        select(Need.id)
        .where(*in_queue, *[c for c in (view_clause, kind_clause) if c is not None])
        .order_by(*QUEUE_ORDER)
        .limit(per_page)
        .offset((page - 1) * per_page)
        .subquery()
    )
    patient, owner = aliased(User), aliased(User)
    rows = [
        QueueRow(*row)
        for row in db.session.execute(
            select(
                Need,
                patient.display_name,
                owner.display_name,
                Program.timezone,
                open_flag_status(Need.patient_id),
            )
            .join(ids, ids.c.id == Need.id)
            .join(patient, patient.id == Need.patient_id)
            .outerjoin(owner, owner.id == Need.owner_id)
            .join(Program, Program.id == Need.program_id)
            .order_by(*QUEUE_ORDER)
        )
    ]
    audit_many("read", "need", [(r.need.patient_id, r.need.id) for r in rows])
    flt.page = page
    return QueuePage(rows, view_counts, kind_counts, page, pages, now, flt)
