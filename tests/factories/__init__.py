"""factory_boy factories bound to the portal's scoped session."""

from __future__ import annotations

from datetime import date, time, timedelta

import factory
from factory.alchemy import SQLAlchemyModelFactory

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import (
    CareTeamAssignment,
    Enrollment,
    LevelOfCare,
    Program,
    StaffMembership,
    TeamRole,
    Track,
)
from portal.blueprints.safety.models import SafetyPlan
from portal.blueprints.schedule.models import (
    Appointment,
    AppointmentKind,
    GroupSession,
    SessionKind,
)
from portal.db import utcnow
from portal.security import Role

PASSWORD = "correct horse battery"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731 - factory_boy hook
        sqlalchemy_session_persistence = "flush"


class ProgramFactory(Base):
    class Meta:
        model = Program

    name = factory.Sequence(lambda n: f"Program {n}")
    timezone = "America/New_York"
    on_call_phone = "+1-555-010-0199"


class TrackFactory(Base):
    class Meta:
        model = Track

    program = None
    program_id = factory.LazyAttribute(lambda o: o.program.id)
    name = factory.Sequence(lambda n: f"Track {n}")
    level_of_care = LevelOfCare.PHP

    class Params:
        program = factory.SubFactory(ProgramFactory)


class UserFactory(Base):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    display_name = factory.Sequence(lambda n: f"Person {n}")
    role = Role.PATIENT
    password_hash = factory.LazyFunction(lambda: _test_hash())
    is_active = True
    # Seen the first sign-in welcome already (tests of the welcome set None).
    welcome_seen_at = factory.LazyFunction(utcnow)

    class Params:
        staff = factory.Trait(
            totp_secret=TOTP_SECRET, totp_enabled=True, role=Role.THERAPIST
        )


_cached_hash: dict[str, str] = {}


def _test_hash() -> str:
    if "h" not in _cached_hash:
        from argon2 import PasswordHasher

        _cached_hash["h"] = PasswordHasher(
            time_cost=1, memory_cost=1024, parallelism=1
        ).hash(PASSWORD)
    return _cached_hash["h"]


class StaffMembershipFactory(Base):
    class Meta:
        model = StaffMembership


class EnrollmentFactory(Base):
    class Meta:
        model = Enrollment

    level_of_care = LevelOfCare.PHP
    admitted_on = factory.LazyFunction(lambda: date.today() - timedelta(days=30))


class CareTeamFactory(Base):
    class Meta:
        model = CareTeamAssignment


class GroupSessionFactory(Base):
    class Meta:
        model = GroupSession

    title = factory.Sequence(lambda n: f"Group {n}")
    kind = SessionKind.GROUP
    weekday = 0
    starts_at = time(9, 0)
    ends_at = time(10, 0)
    room = "Room 1"


class AppointmentFactory(Base):
    class Meta:
        model = Appointment

    kind = AppointmentKind.THERAPY
    starts_at = factory.LazyFunction(lambda: utcnow() + timedelta(hours=1))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=50))
    room = "Office 3"


class SafetyPlanFactory(Base):
    class Meta:
        model = SafetyPlan

    sections = factory.LazyFunction(dict)


TEAM_ROLE_OF = {
    Role.THERAPIST: TeamRole.THERAPIST,
    Role.PRESCRIBER: TeamRole.PRESCRIBER,
    Role.NURSE: TeamRole.NURSE,
    Role.CASE_MANAGER: TeamRole.CASE_MANAGER,
    Role.PEER: TeamRole.PEER,
}
