"""The patient's context: their current enrollment with its program and track, and
the program's day in its own time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload

from portal import db
from portal.blueprints.programs.models import Enrollment, EnrollmentStatus, Program
from portal.db import utcnow


@dataclass
class PatientContext:
    enrollment: Enrollment
    program: Program
    tz: ZoneInfo


def load_patient_context(patient_id: str) -> PatientContext | None:
    """The current enrollment with its program and track, in one query."""
    enrollment = db.session.scalar(
        select(Enrollment)
        .join(Enrollment.program)
        .options(contains_eager(Enrollment.program), joinedload(Enrollment.track))
        .where(
            Enrollment.patient_id == patient_id,
            Enrollment.status != EnrollmentStatus.DISCHARGED,
        )
        .order_by(Enrollment.admitted_on.desc())
        .limit(1)
    )
    if enrollment is None:
        return None
    return PatientContext(
        enrollment, enrollment.program, ZoneInfo(enrollment.program.timezone)
    )


def local_today(ctx: PatientContext) -> date:
    return utcnow().astimezone(ctx.tz).date()
