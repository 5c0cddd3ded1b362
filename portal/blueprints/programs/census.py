"""Who is in a program on a given day."""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, select

from portal import db
from portal.blueprints.programs.models import Enrollment, EnrollmentStatus


def patients_enrolled_on(day: date, condition) -> list[str]:
    """Ids of the patients actively enrolled on that day who match `condition`."""
    return list(
        db.session.scalars(
            select(Enrollment.patient_id).where(
                condition,
                Enrollment.status == EnrollmentStatus.ACTIVE,
                Enrollment.admitted_on <= day,
                or_(
                    Enrollment.discharged_on.is_(None),
                    Enrollment.discharged_on >= day,
                ),
            )
        )
    )
