"""Coverage and authorizations as admin staff keep them: numbers, codes and dates,
checked before anything is saved, each change kept with who made it and when."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import aliased, joinedload

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.programs.access import staff_program_ids
from portal.blueprints.programs.models import Enrollment, LevelOfCare
from portal.blueprints.reviews.models import (
    Authorization,
    AuthorizationStatus,
    CareFocus,
    Coverage,
    CoverageChange,
)
from portal.blueprints.reviews.usage import used_days_statement
from portal.db import is_id, utcnow

# HCPCS per diem codes and UB-04 revenue codes for day programs, with their level.
SERVICE_CODES = {
    "S9480": ("Intensive outpatient psychiatric services, per diem", LevelOfCare.IOP),
    "H0015": ("Alcohol and/or drug services, intensive outpatient", LevelOfCare.IOP),
    "H0035": ("Mental health partial hospitalization, under 24 hours", LevelOfCare.PHP),
    "0905": ("Revenue code: intensive outpatient, psychiatric", LevelOfCare.IOP),
    "0906": ("Revenue code: intensive outpatient, chemical dep.", LevelOfCare.IOP),
    "0912": ("Revenue code: partial hospitalization, less intensive", LevelOfCare.PHP),
    "0913": ("Revenue code: partial hospitalization, intensive", LevelOfCare.PHP),
}
STATUS_LABELS = {
    AuthorizationStatus.REQUESTED: "Requested",
    AuthorizationStatus.APPROVED: "Approved",
    AuthorizationStatus.DENIED: "Denied",
    AuthorizationStatus.PARTLY_APPROVED: "Partly approved",
    AuthorizationStatus.EXTENDED: "Extended",
    AuthorizationStatus.ENDED: "Ended",
}
FOCUS_LABELS = {
    CareFocus.MENTAL_HEALTH: "Mental health",
    CareFocus.SUBSTANCE_USE: "Substance use",
}


class CoverageError(ValueError):
    """Input that cannot be saved; the message says why in plain words."""


@dataclass(frozen=True)
class CoverageData:
    payer: str
    plan: str | None
    member_id: str
    is_primary: bool


@dataclass(frozen=True)
class AuthorizationData:
    coverage_id: str
    reference: str
    level_of_care: LevelOfCare
    focus: CareFocus
    service_code: str
    units: int
    starts_on: date
    ends_on: date
    next_review_on: date | None
    status: AuthorizationStatus
    denial_reason: str | None = None
    appeal_by: date | None = None


# ---- loading, within the actor's programs -------------------------------------


def load_enrollment(actor: User, patient_id: str) -> Enrollment | None:
    """The patient's latest enrollment in one of the actor's programs, with the
    patient; None when there is none."""
    if not is_id(patient_id):
        return None
    return db.session.scalar(
        select(Enrollment)
        .options(joinedload(Enrollment.patient))
        .where(
            Enrollment.patient_id == patient_id,
            Enrollment.program_id.in_(staff_program_ids(actor)),
        )
        .order_by(Enrollment.admitted_on.desc())
        .limit(1)
    )


def load_authorization(actor: User, authorization_id: str) -> Authorization | None:
    if not is_id(authorization_id):
        return None
    return db.session.scalar(
        select(Authorization).where(
            Authorization.id == authorization_id,
            Authorization.program_id.in_(staff_program_ids(actor)),
        )
    )


def load_coverage(actor: User, coverage_id: str) -> Coverage | None:
    if not is_id(coverage_id):
        return None
    return db.session.scalar(
        select(Coverage).where(
            Coverage.id == coverage_id,
            Coverage.program_id.in_(staff_program_ids(actor)),
        )
    )


def coverage_of(enrollment: Enrollment) -> tuple[list[Coverage], list[Authorization]]:
    """The enrollment's coverages (primary first) and authorizations (newest first)."""
    coverages = db.session.scalars(
        select(Coverage)
        .where(Coverage.enrollment_id == enrollment.id)
        .order_by(Coverage.is_primary.desc(), Coverage.created_at)
    ).all()
    authorizations = db.session.scalars(
        select(Authorization)
        .where(Authorization.enrollment_id == enrollment.id)
        .order_by(Authorization.starts_on.desc())
    ).all()
    return list(coverages), list(authorizations)


def used_by_authorization(enrollment: Enrollment) -> dict[str, int]:
    """Days used of each of the enrollment's authorizations (from attendance)."""
    statement = used_days_statement(Authorization.enrollment_id == enrollment.id)
    return {auth_id: int(used) for auth_id, used in db.session.execute(statement)}


def payers_of(patient_id: str) -> list[str]:
    """The payers named in the patient's coverage, primary first."""
    rows = db.session.execute(
        select(Coverage.payer, Coverage.is_primary)
        .where(Coverage.patient_id == patient_id)
        .order_by(Coverage.is_primary.desc(), Coverage.payer)
    ).all()
    return list(dict.fromkeys(payer for payer, _ in rows))


def history_of(subject_ids: list[str]) -> list[tuple[CoverageChange, str]]:
    """Changes to these coverages and authorizations, newest first, with who."""
    if not subject_ids:
        return []
    author = aliased(User)
    return db.session.execute(
        select(CoverageChange, author.display_name)
        .join(author, author.id == CoverageChange.actor_id)
        .where(CoverageChange.subject_id.in_(subject_ids))
        .order_by(CoverageChange.at.desc())
        .limit(200)
    ).all()


# ---- changes -------------------------------------------------------------------


def add_coverage(actor: User, enrollment: Enrollment, data: CoverageData) -> Coverage:
    """Record who pays for this enrollment."""
    _check_coverage(data)
    coverage = Coverage(
        enrollment_id=enrollment.id,
        patient_id=enrollment.patient_id,
        program_id=enrollment.program_id,
    )
    db.session.add(coverage)
    return _apply(actor, coverage, asdict(data), "create")


def change_coverage(actor: User, coverage: Coverage, data: CoverageData) -> Coverage:
    """Change a coverage's payer, plan, member id or whether it is primary."""
    _check_coverage(data)
    return _apply(actor, coverage, asdict(data), "update")


def add_authorization(
    actor: User, enrollment: Enrollment, data: AuthorizationData
) -> Authorization:
    """Record a payer's authorization (or request, or denial) for this enrollment."""
    _check_authorization(enrollment, data, None)
    authorization = Authorization(
        enrollment_id=enrollment.id,
        patient_id=enrollment.patient_id,
        program_id=enrollment.program_id,
    )
    db.session.add(authorization)
    return _apply(actor, authorization, asdict(data), "create")


def change_authorization(
    actor: User, enrollment: Enrollment, authorization: Authorization, data
) -> Authorization:
    """Change an authorization's numbers, dates or status."""
    _check_authorization(enrollment, data, authorization)
    return _apply(actor, authorization, asdict(data), "update")


def _check_coverage(data: CoverageData) -> None:
    if not data.payer.strip():
        raise CoverageError("Give the payer's name.")
    if not data.member_id.strip():
        raise CoverageError("Give the member id from the insurance card.")


def _check_authorization(
    enrollment: Enrollment, data: AuthorizationData, current: Authorization | None
) -> None:
    """Refuse what a payer could never have authorized, before anything is saved."""
    coverage = db.session.get(Coverage, data.coverage_id)
    if coverage is None or coverage.enrollment_id != enrollment.id:
        raise CoverageError("Choose a coverage of this patient.")
    if not data.reference.strip():
        raise CoverageError("Give the payer's reference number.")
    if data.service_code not in SERVICE_CODES:
        raise CoverageError("Choose a service code from the list.")
    if SERVICE_CODES[data.service_code][1] is not data.level_of_care:
        raise CoverageError(
            f"Service code {data.service_code} is not for {data.level_of_care.value}."
        )
    if data.ends_on < data.starts_on:
        raise CoverageError("The last day cannot be before the first day.")
    if data.units < 0:
        raise CoverageError("Days authorized cannot be less than 0.")
    if data.units > (data.ends_on - data.starts_on).days + 1:
        raise CoverageError("More days are authorized than the dates hold.")
    review = data.next_review_on
    if review is not None and not data.starts_on <= review <= data.ends_on:
        raise CoverageError(
            "The next review date must be between the first and the last day."
        )
    if data.status is AuthorizationStatus.DENIED:
        if not (data.denial_reason or "").strip():
            raise CoverageError("Give the reason the payer denied it.")
        if data.appeal_by is None:
            raise CoverageError("Give the last day to appeal the denial.")
    _check_no_overlap(enrollment, data, current)


def _check_no_overlap(enrollment, data: AuthorizationData, current) -> None:
    if data.status is AuthorizationStatus.DENIED:
        return
    clash = db.session.scalar(
        select(Authorization)
        .where(
            Authorization.patient_id == enrollment.patient_id,
            Authorization.level_of_care == data.level_of_care,
            Authorization.status != AuthorizationStatus.DENIED,
            Authorization.starts_on <= data.ends_on,
            Authorization.ends_on >= data.starts_on,
            Authorization.id != (current.id if current else ""),
        )
        .limit(1)
    )
    if clash is not None:
        raise CoverageError(
            f"These dates overlap authorization {clash.reference} "
            f"({clash.starts_on:%b %-d} to {clash.ends_on:%b %-d, %Y}) for the same "
            "level of care."
        )


def _apply(actor: User, subject, values: dict, action: str):
    """Set the values, keep the change (before and after) and audit it."""
    changes = {}
    for name, value in values.items():
        if isinstance(value, str) or name in OPTIONAL_TEXT:
            value = (value or "").strip() or None
        before = getattr(subject, name, None)
        if before != value:
            changes[name] = [_plain(before), _plain(value)]
            setattr(subject, name, value)
    subject.updated_at = utcnow()
    db.session.flush()
    kind = subject.__tablename__.removesuffix("s")
    if changes:
        db.session.add(
            CoverageChange(
                patient_id=subject.patient_id,
                subject_type=kind,
                subject_id=subject.id,
                actor_id=actor.id,
                changes=changes,
            )
        )
    audit(
        action,
        kind,
        patient_id=subject.patient_id,
        object_id=subject.id,
        detail=", ".join(sorted(changes))[:200] or "no change",
    )
    return subject


OPTIONAL_TEXT = ("plan", "denial_reason")


def _plain(value):
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    return value
