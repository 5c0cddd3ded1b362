"""Safety for other features and for the patient: who has an open flag (and, for the
care team, only that), who may handle a flag, a patient's plan and saving it, how the
program reaches out after a risk answer, and the patient's replies ("please call me",
"I am safe for now")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import exists, false, func, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.orm.exc import StaleDataError

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.programs.access import patient_circle_clause, staff_program_ids
from portal.blueprints.programs.models import Enrollment, Program
from portal.blueprints.safety import escalation
from portal.blueprints.safety.models import (
    PATIENT_CALL_ME,
    SAFETY_PLAN_SECTIONS,
    FlagStatus,
    RiskFlag,
    RiskFlagEvent,
    RiskSettings,
    SafetyPlan,
)
from portal.db import utcnow
from portal.hours import is_open, next_opening
from portal.security import CLINICAL

ALERT_COUNT_CAP = 100  # the menu shows "99+" beyond this


def open_flag_clause():
    """SQL condition on Enrollment: the patient has an unresolved risk flag."""
    return exists().where(RiskFlag.open_key == Enrollment.patient_id)


def open_flag_status(patient_id):
    """SQL value: the status of the patient's unresolved flag, NULL when none. For
    pages that may say only that an alert is open and whether someone has it."""
    return (
        select(RiskFlag.status).where(RiskFlag.open_key == patient_id).scalar_subquery()
    )


def taken_flag_status(patient_id):
    """SQL value: the status of the patient's unresolved flag once someone has taken
    it (acknowledged or assessed), NULL otherwise."""
    return (
        select(RiskFlag.status)
        .where(RiskFlag.open_key == patient_id, RiskFlag.status != FlagStatus.OPEN)
        .scalar_subquery()
    )


def open_flag_statuses(patient_ids: list[str]) -> dict[str, FlagStatus]:
    """The status of each listed patient's unresolved flag, in one statement."""
    if not patient_ids:
        return {}
    return dict(
        db.session.execute(
            select(RiskFlag.open_key, RiskFlag.status).where(
                RiskFlag.open_key.in_(patient_ids)
            )
        ).all()
    )


def in_circle_clause(actor):
    """SQL condition on RiskFlag: the patient is in the actor's circle."""
    if actor.role not in CLINICAL:
        return false()
    return exists().where(
        Enrollment.patient_id == RiskFlag.patient_id, patient_circle_clause(actor)
    )


def may_handle_clause(actor):
    """SQL condition on RiskFlag: a flag of one of the actor's programs, and the
    program pages them for risk or the patient is in their circle."""
    settings = aliased(RiskSettings)  # the alert page joins the program's own too
    paged = exists().where(
        settings.program_id == RiskFlag.program_id,
        or_(
            settings.on_call_id == actor.id,
            settings.backup_id == actor.id,
            settings.after_hours_id == actor.id,
        ),
    )
    return RiskFlag.program_id.in_(staff_program_ids(actor)) & or_(
        paged, in_circle_clause(actor)
    )


def open_alerts_statement(actor):
    """SELECT the unresolved flags the actor may handle, counted up to 100."""
    handled = (
        select(RiskFlag.id)
        .where(RiskFlag.open_key.is_not(None), may_handle_clause(actor))
        .limit(ALERT_COUNT_CAP)
        .subquery()
    )
    return select(func.count()).select_from(handled)


def open_alerts_count(actor) -> int:
    """The staff menu's count of open alerts: one COUNT."""
    return db.session.scalar(open_alerts_statement(actor)) or 0


def safety_plan_of(patient_id: str) -> SafetyPlan | None:
    """The patient's safety plan, if they have one."""
    return db.session.scalar(
        select(SafetyPlan).where(SafetyPlan.patient_id == patient_id)
    )


def save_safety_plan(actor, patient, plan, form) -> SafetyPlan:
    """Save every section; a plan changed by someone else meanwhile conflicts."""
    if plan is None:
        plan = SafetyPlan(patient_id=patient.id, sections={})
        db.session.add(plan)
    elif form.version.data != plan.version:
        raise StaleDataError("changed since it was opened")
    plan.sections = {
        key: (form[key].data or "").strip() for key, _l, _h in SAFETY_PLAN_SECTIONS
    }
    plan.updated_by_id = actor.id
    plan.updated_at = utcnow()
    db.session.flush()
    audit("update", "safety_plan", patient_id=patient.id, object_id=plan.id)
    return plan


@dataclass(frozen=True)
class ReachingOut:
    """How and when the program will reach a patient after a risk answer."""

    open_now: bool
    within_minutes: int
    after_hours_clinician: bool
    next_opening: datetime | None  # in the program's time zone


def how_the_program_reaches_out(program: Program) -> ReachingOut:
    """What to tell the patient: a call soon while the program is open; after hours,
    the after-hours clinician when there is one, and the next opening in any case."""
    settings = db.session.get(RiskSettings, program.id)
    now = utcnow()
    opening = next_opening(program.opening_hours, program.timezone, now)
    local_opening = opening.astimezone(ZoneInfo(program.timezone)) if opening else None
    return ReachingOut(
        open_now=is_open(program.opening_hours, program.timezone, now),
        within_minutes=settings.t1_minutes if settings else 15,
        after_hours_clinician=bool(settings and settings.after_hours_id),
        next_opening=local_opening,
    )


class NoOpenAlert(LookupError):
    """The patient has no safety alert open now (it was closed meanwhile)."""


def record_patient_reply(patient: User, kind: str) -> RiskFlag:
    """Record "please call me" or "I am safe for now" on the patient's open alert; a
    call request also tells whoever has the alert, or the on-call people, again."""
    flag = db.session.scalar(select(RiskFlag).where(RiskFlag.open_key == patient.id))
    if flag is None:
        raise NoOpenAlert(patient.id)
    db.session.add(RiskFlagEvent(flag_id=flag.id, kind=kind, actor_id=patient.id))
    if kind == PATIENT_CALL_ME:
        escalation.tell_again(flag)
    db.session.flush()
    audit("update", "risk_flag", patient_id=patient.id, object_id=flag.id, detail=kind)
    return flag
