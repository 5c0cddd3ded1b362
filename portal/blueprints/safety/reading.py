"""What the alert pages read: the flags a clinician may handle, one flag with its
program and settings, its history with names, and how to reach the patient."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import aliased

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import Enrollment, Program
from portal.blueprints.safety.answers import SOURCE_WORDS
from portal.blueprints.safety.models import (
    RiskFlag,
    RiskFlagEvent,
    RiskSettings,
    SafetyPlan,
)
from portal.blueprints.safety.services import in_circle_clause, may_handle_clause

LIST_LIMIT = 200


@dataclass
class HandledFlag:
    """A flag the actor may handle, with what its pages need around it."""

    flag: RiskFlag
    program: Program
    settings: RiskSettings
    in_circle: bool  # may also open the patient's pages (not only paged for risk)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.program.timezone)


def load_flag_for(actor: User, flag_id: str) -> HandledFlag | None:
    """The flag with its program and risk settings, if the actor may handle it: one
    query. A program without settings yet gets the defaults (nothing is written)."""
    if len(flag_id) != 36:
        return None
    row = db.session.execute(
        select(RiskFlag, Program, RiskSettings, in_circle_clause(actor))
        .join(Program, Program.id == RiskFlag.program_id)
        .outerjoin(RiskSettings, RiskSettings.program_id == RiskFlag.program_id)
        .where(RiskFlag.id == flag_id, may_handle_clause(actor))
    ).first()
    if row is None:
        return None
    flag, program, settings, in_circle = row
    return HandledFlag(
        flag, program, settings or RiskSettings(program_id=program.id), bool(in_circle)
    )


@dataclass
class ListedFlag:
    flag: RiskFlag
    patient_name: str
    tz: ZoneInfo


def open_flags_for(actor: User) -> list[ListedFlag]:
    """The unresolved flags the actor may handle, oldest first, with names: one
    query."""
    rows = db.session.execute(
        select(RiskFlag, User.display_name, Program.timezone)
        .join(User, User.id == RiskFlag.patient_id)
        .join(Program, Program.id == RiskFlag.program_id)
        .where(RiskFlag.open_key.is_not(None), may_handle_clause(actor))
        .order_by(RiskFlag.opened_at)
        .limit(LIST_LIMIT)
    ).all()
    return [ListedFlag(flag, name, ZoneInfo(tz)) for flag, name, tz in rows]


@dataclass
class FlagEvent:
    event: RiskFlagEvent
    actor_name: str | None
    recipient_name: str | None


def flag_events(flag: RiskFlag) -> list[FlagEvent]:
    """The flag's history in order, with who acted and who was told: one query."""
    actor, recipient = aliased(User), aliased(User)
    rows = db.session.execute(
        select(RiskFlagEvent, actor.display_name, recipient.display_name)
        .outerjoin(actor, actor.id == RiskFlagEvent.actor_id)
        .outerjoin(recipient, recipient.id == RiskFlagEvent.recipient_id)
        .where(RiskFlagEvent.flag_id == flag.id)
        .order_by(RiskFlagEvent.at, RiskFlagEvent.id)
    ).all()
    return [FlagEvent(*row) for row in rows]


@dataclass
class PatientContact:
    name: str
    mobile_phone: str | None
    plan: SafetyPlan | None


def patient_contact(flag: RiskFlag) -> PatientContact:
    """The patient's name, mobile number (from their enrollment in the flag's program)
    and safety plan: one query."""
    row = db.session.execute(
        select(User.display_name, Enrollment.mobile_phone, SafetyPlan)
        .select_from(User)
        .outerjoin(
            Enrollment,
            (Enrollment.patient_id == User.id)
            & (Enrollment.program_id == flag.program_id),
        )
        .outerjoin(SafetyPlan, SafetyPlan.patient_id == User.id)
        .where(User.id == flag.patient_id)
        .order_by(Enrollment.admitted_on.desc())
        .limit(1)
    ).one()
    return PatientContact(*row)


def names_of(ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(
        db.session.execute(
            select(User.id, User.display_name).where(User.id.in_(ids))
        ).all()
    )


# ---- plain words ---------------------------------------------------------------------


def local_time(moment: datetime, tz: ZoneInfo, now: datetime) -> str:
    """A moment in the program's time zone, with the zone named; the day only when it
    is not today there."""
    local = moment.astimezone(tz)
    zone = local.strftime("%Z")
    if local.date() == now.astimezone(tz).date():
        return local.strftime(f"%-I:%M %p {zone}")
    return local.strftime(f"%a %b %-d, %-I:%M %p {zone}")


def duration_words(span: timedelta) -> str:
    """ "1 h 20 min", "3 days 2 h", or "less than a minute"."""
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 1:
        return "less than a minute"
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


CHANNEL_WORDS = {
    "app+push": "In the app and on their phone",
    "sms": "Text message",
    "voice": "Phone call",
}
RAISED_WORDS = {
    "level 0": "Sent to the on-call clinician",
    "level 1": "Moved up to the backup",
    "level 2": "Moved up to the director and everyone on call",
}
PATIENT_WORDS = {
    "patient_call_me": "Asked the team to call",
    "patient_safe_now": "Said they are safe for now",
}
STATUS_WORDS = {
    "open": "Open — nobody has taken it yet",
    "acknowledged": "Someone is taking it",
    "assessed": "Assessed",
    "resolved": "Closed",
}


def event_words(row: FlagEvent) -> str:
    """What happened, in plain words, with who did it or was told."""
    event, kind = row.event, row.event.kind
    source = SOURCE_WORDS.get(event.detail or "", event.detail)
    by = row.actor_name or "Someone"
    match kind:
        case "opened":
            return f"Alert opened — {source}"
        case "positive_again":
            return f"Another risk answer — {source}"
        case "told":
            channel = CHANNEL_WORDS.get(event.channel or "", event.channel)
            return f"{row.recipient_name or 'Staff'} alerted — {channel}"
        case "raised":
            return RAISED_WORDS.get(event.detail or "", "Sent again")
        case "after_hours":
            return "Outside opening hours — sent to the after-hours clinician"
        case "acknowledged":
            return f"{by} is taking this"
        case "assessed":
            level = (event.detail or "").removeprefix("risk ").capitalize()
            return f"{by} recorded an assessment — {level} risk"
        case "resolved":
            return f"{by} closed the alert"
        case "patient_call_me" | "patient_safe_now":
            return f"{row.actor_name or 'The patient'}: {PATIENT_WORDS[kind]}"
        case "unsaved_sending":
            return (
                "The answers could not be saved just now; the patient's phone keeps "
                "them and sends them again"
            )
    return kind.replace("_", " ").capitalize()
