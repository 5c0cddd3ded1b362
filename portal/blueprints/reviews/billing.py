"""The billing days export of one program and month, as CSV: every per-diem day
that counts (attended at least the track's minimum hours) and every peer-support
contact (HCPCS H0038, units of 15 minutes), each with the authorization that covers
it; a day with none is marked, never left out."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, timedelta

from sqlalchemy import and_, exists, select

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.messages.models import PeerContact
from portal.blueprints.programs.access import staff_program_ids
from portal.blueprints.programs.models import (
    Enrollment,
    LevelOfCare,
    Program,
)
from portal.blueprints.reviews.models import COVERING, Authorization, ReviewFile
from portal.blueprints.reviews.usage import (
    SERVICE,
    attended_sessions,
    reaches_minimum,
)
from portal.blueprints.schedule.models import Attendance
from portal.db import is_id

# A day with no authorization still needs a code: the level's usual per diem.
DEFAULT_CODES = {LevelOfCare.PHP: "H0035", LevelOfCare.IOP: "S9480"}
NO_AUTHORIZATION = "NO AUTHORIZATION"
HEADER = [
    "patient_id",
    "patient",
    "date",
    "service_code",
    "units",
    "authorization",
    "note",
]


class BillingError(ValueError):
    """A month that cannot be exported; the message says why."""


def parse_month(text: str) -> date:
    try:
        year, month = (int(part) for part in (text or "").split("-"))
        return date(year, month, 1)
    except ValueError:
        raise BillingError("Choose a month, like 2026-11.") from None


def month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(1)


def _covering(patient_column, day_column, level_column=None):
    """Correlated: the reference and code of the authorization paying for the day."""
    conditions = [
        Authorization.patient_id == patient_column,
        Authorization.status.in_(COVERING),
        day_column.between(Authorization.starts_on, Authorization.ends_on),
    ]
    if level_column is not None:
        conditions.append(Authorization.level_of_care == level_column)
    base = select().where(and_(*conditions)).order_by(Authorization.starts_on).limit(1)
    return (
        base.add_columns(Authorization.reference).scalar_subquery(),
        base.add_columns(Authorization.service_code).scalar_subquery(),
    )


def billing_rows(program_id: str, first: date, last: date) -> list[list]:
    """The CSV's rows, by patient and date: two statements."""
    enrolled = exists().where(
        Enrollment.patient_id == Attendance.patient_id,
        Enrollment.program_id == program_id,
    )
    reference, code = _covering(
        Attendance.patient_id, Attendance.occurs_on, SERVICE.c.level
    )
    days = db.session.execute(
        attended_sessions()
        .add_columns(
            Attendance.patient_id,
            User.display_name,
            Attendance.occurs_on,
            SERVICE.c.level,
            reference,
            code,
        )
        .join(User, User.id == Attendance.patient_id)
        .where(enrolled, Attendance.occurs_on.between(first, last))
        .group_by(
            Attendance.patient_id,
            User.display_name,
            Attendance.occurs_on,
            SERVICE.c.level,
        )
        .having(reaches_minimum())
    ).all()
    rows = [
        _row(pid, name, day, auth_code or DEFAULT_CODES[LevelOfCare(level)], 1, ref)
        for pid, name, day, level, ref, auth_code in days
    ]
    rows += _peer_rows(program_id, first, last)
    return sorted(rows, key=lambda row: (row[1], row[0], row[2], row[3]))


def _peer_rows(program_id: str, first: date, last: date) -> list[list]:
    reference, _code = _covering(PeerContact.patient_id, PeerContact.contact_on)
    contacts = db.session.execute(
        select(
            PeerContact.patient_id,
            User.display_name,
            PeerContact.contact_on,
            PeerContact.hcpcs,
            PeerContact.minutes,
            reference,
        )
        .join(User, User.id == PeerContact.patient_id)
        .where(
            exists().where(
                Enrollment.patient_id == PeerContact.patient_id,
                Enrollment.program_id == program_id,
            ),
            PeerContact.contact_on.between(first, last),
        )
    ).all()
    return [
        _row(pid, name, day, hcpcs, peer_units(minutes), ref)
        for pid, name, day, hcpcs, minutes, ref in contacts
        if peer_units(minutes) > 0
    ]


def peer_units(minutes: int) -> int:
    """Units of 15 minutes; a part unit counts from 8 minutes (the 8-minute rule)."""
    return (minutes + 7) // 15


def _row(patient_id, name, day, code, units, reference) -> list:
    return [
        patient_id,
        _cell(name),
        day.isoformat(),
        code,
        units,
        _cell(reference or ""),
        "" if reference else NO_AUTHORIZATION,
    ]


def _cell(text: str) -> str:
    """A spreadsheet must not take a name for a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def load_program(actor: User, program_id: str) -> Program | None:
    if not is_id(program_id):
        return None
    return db.session.scalar(
        select(Program).where(
            Program.id == program_id, Program.id.in_(staff_program_ids(actor))
        )
    )


def export_billing(actor: User, program: Program, month: date) -> ReviewFile:
    """Make the month's CSV and keep it in the database; audited."""
    rows = billing_rows(program.id, month, month_end(month))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    data = buffer.getvalue().encode()
    made = ReviewFile(
        kind="billing_csv",
        program_id=program.id,
        filename=f"billing-days-{month:%Y-%m}.csv",
        media_type="text/csv",
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        made_by_id=actor.id,
    )
    db.session.add(made)
    db.session.flush()
    missing = sum(1 for row in rows if row[-1])
    audit(
        "export",
        "billing_days",
        object_id=made.id,
        detail=f"{month:%Y-%m}: {len(rows)} rows, {missing} without authorization",
    )
    return made


def billing_files(actor: User, limit: int = 24) -> list[tuple[ReviewFile, str]]:
    """Recent exports of the actor's programs, newest first, without their bytes."""
    return db.session.execute(
        select(
            ReviewFile.id,
            ReviewFile.filename,
            ReviewFile.made_at,
            ReviewFile.size,
            ReviewFile.sha256,
            Program.name,
        )
        .join(Program, Program.id == ReviewFile.program_id)
        .where(
            ReviewFile.kind == "billing_csv",
            ReviewFile.program_id.in_(staff_program_ids(actor)),
        )
        .order_by(ReviewFile.made_at.desc())
        .limit(limit)
    ).all()


def load_billing_file(actor: User, file_id: str) -> ReviewFile | None:
    if not is_id(file_id):
        return None
    return db.session.scalar(
        select(ReviewFile).where(
            ReviewFile.id == file_id,
            ReviewFile.kind == "billing_csv",
            ReviewFile.program_id.in_(staff_program_ids(actor)),
        )
    )
