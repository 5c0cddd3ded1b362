"""The director's audit report: who read or changed which patient's data, when, from
where, allowed or denied, for the patients and staff of the director's programs."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, not_, or_, select
from sqlalchemy.orm import aliased

from portal import db
from portal.audit import AuditEvent, Outcome
from portal.blueprints.auth.models import User
from portal.blueprints.programs.access import staff_program_ids
from portal.blueprints.programs.models import Enrollment, StaffMembership
from portal.security import Role

PAGE_SIZE = 50
# What someone did, in plain words, and the actions each word covers; "changed" is
# every action that is neither.
READ_ACTIONS = ("read", "search")
SHARE_ACTIONS = ("export", "disclose")
WHAT = {
    "read": "Read",
    "shared": "Downloaded or shared",
    "changed": "Changed",
}


@dataclass(frozen=True)
class Filters:
    """The report's filters; every one optional."""

    patient_id: str | None = None
    staff_id: str | None = None
    what: str | None = None
    outcome: str | None = None
    since: date | None = None
    until: date | None = None
    before: int | None = None

    def __str__(self) -> str:
        """The filters for the report's own audit row: ids and words, no names."""
        parts = [
            f"{name}={value}"
            for name, value in (
                ("staff", self.staff_id),
                ("what", self.what),
                ("outcome", self.outcome),
                ("from", self.since),
                ("to", self.until),
                ("before", self.before),
            )
            if value
        ]
        return ", ".join(parts) or "no filters"


def program_patients(director: User):
    """Patients ever enrolled in the director's programs (a subquery)."""
    return select(Enrollment.patient_id).where(
        Enrollment.program_id.in_(staff_program_ids(director))
    )


def program_staff(director: User):
    """Staff members of the director's programs (a subquery)."""
    return select(StaffMembership.user_id).where(
        StaffMembership.program_id.in_(staff_program_ids(director))
    )


def staff_choices(director: User) -> list[User]:
    """The staff members the report can be filtered by, by name."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.id.in_(program_staff(director)), User.role != Role.PATIENT)
            .order_by(User.display_name)
        )
    )


def patient_in_programs(director: User, patient_id: str) -> User | None:
    """The patient, when they are (or were) in one of the director's programs."""
    return db.session.scalar(
        select(User).where(
            User.id == patient_id,
            User.role == Role.PATIENT,
            User.id.in_(program_patients(director)),
        )
    )


def _statement(director: User, filters: Filters, tz: ZoneInfo):
    a = AuditEvent
    actor, patient = aliased(User), aliased(User)
    ours = a.patient_id.in_(program_patients(director))
    conditions = [or_(ours, a.actor_id.in_(program_staff(director)))]
    conditions += _filter_conditions(filters, tz)
    return (
        select(
            a.id,
            a.at,
            a.actor_id,
            actor.display_name.label("actor_name"),
            a.actor_role,
            a.patient_id,
            # a patient of another program stays nameless (a denied try, say)
            case((ours, patient.display_name)).label("patient_name"),
            a.action,
            a.data_kind,
            a.object_id,
            a.ip,
            a.outcome,
        )
        .outerjoin(actor, actor.id == a.actor_id)
        .outerjoin(patient, patient.id == a.patient_id)
        .where(*conditions)
        .order_by(a.id.desc())
    )


def _filter_conditions(filters: Filters, tz: ZoneInfo) -> list:
    a, found = AuditEvent, []
    if filters.patient_id:
        found.append(a.patient_id == filters.patient_id)
    if filters.staff_id:
        found.append(a.actor_id == filters.staff_id)
    if filters.what == "read":
        found.append(a.action.in_(READ_ACTIONS))
    elif filters.what == "shared":
        found.append(a.action.in_(SHARE_ACTIONS))
    elif filters.what == "changed":
        found.append(not_(a.action.in_(READ_ACTIONS + SHARE_ACTIONS)))
    if filters.outcome in (Outcome.ALLOWED, Outcome.DENIED):
        found.append(a.outcome == filters.outcome)
    if filters.since:
        found.append(a.at >= datetime.combine(filters.since, time.min, tz))
    if filters.until:
        next_day = filters.until + timedelta(days=1)
        found.append(a.at < datetime.combine(next_day, time.min, tz))
    if filters.before:
        found.append(a.id < filters.before)
    return [and_(*found)] if found else []


def report_page(director: User, filters: Filters, tz: ZoneInfo) -> tuple[list, bool]:
    """One page of rows, newest first, and whether older rows follow."""
    rows = db.session.execute(
        _statement(director, filters, tz).limit(PAGE_SIZE + 1)
    ).all()
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def report_rows(director: User, filters: Filters, tz: ZoneInfo) -> Iterator:
    """Every row that matches, newest first, fetched in batches (for the CSV)."""
    statement = _statement(director, filters, tz).execution_options(yield_per=1000)
    yield from db.session.execute(statement)


CSV_COLUMNS = (
    "When",
    "Who",
    "Role",
    "Patient",
    "Patient id",
    "Action",
    "Data",
    "Object id",
    "From",
    "Result",
)


def as_csv(rows, tz: ZoneInfo) -> Iterator[str]:
    """The rows as CSV text, a line at a time (times in the program's zone)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f"When ({tz.key})", *CSV_COLUMNS[1:]])
    for row in rows:
        writer.writerow(
            [
                f"{row.at.astimezone(tz):%Y-%m-%d %H:%M:%S}",
                row.actor_name or "System",
                row.actor_role or "",
                row.patient_name
                or ("Another program's patient" if row.patient_id else ""),
                row.patient_id or "",
                row.action,
                row.data_kind,
                row.object_id or "",
                row.ip or "",
                row.outcome,
            ]
        )
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()
