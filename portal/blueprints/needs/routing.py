"""Who gets a new request: the patient's case manager, else the least-loaded one who
is not away; and case managers marking themselves away."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, func, select

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.needs.events import record_event, staff_target
from portal.blueprints.needs.models import (
    OPEN_STATUSES,
    CaseManagerAway,
    EventKind,
    Need,
)
from portal.blueprints.notifications.models import NotificationKind
from portal.blueprints.notifications.services import notify
from portal.blueprints.programs.access import program_director_ids
from portal.blueprints.programs.models import (
    CareTeamAssignment,
    StaffMembership,
    TeamRole,
)
from portal.db import utcnow
from portal.security import Role


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
    record_event(need, None, EventKind.ROUTED, owner_id=owner.id)
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
