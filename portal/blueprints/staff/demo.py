"""The morning huddle in the demo program: a patient at risk (an "I do not feel safe"
check-in yesterday, PHQ-9 up with item 9 above 0, an alert the nurse has), a patient
who stopped checking in, an overdue ride request, yesterday's huddle held, and a note
and an action agreed ("Priya to call about the ride by 11"). Jordan's authorization
(2 days left, review tomorrow) comes from the reviews demo."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.blueprints.checkins.instruments import QUESTIONNAIRES, Instrument
from portal.blueprints.checkins.models import CheckIn, Medication, ScreenerResponse
from portal.blueprints.needs.models import (
    EventKind,
    Need,
    NeedEvent,
    NeedKind,
    SdohCategory,
    TaskStatus,
    Urgency,
)
from portal.blueprints.programs.models import Program
from portal.blueprints.safety.models import FlagStatus, RiskFlag, RiskFlagEvent
from portal.blueprints.staff.huddle_day import previous_program_day
from portal.blueprints.staff.models import Huddle, HuddleAction, HuddleNote
from portal.db import new_id, utcnow


def create_demo_huddle(session: Session, program: Program, users: dict, patients):
    """Riley at risk, Quinn silent for days, Kai's ride overdue (patients 6, 9, 12:
    none of them is a demo sign-in the other features' tests use)."""
    tz = ZoneInfo(program.timezone)
    now = utcnow()
    today = now.astimezone(tz).date()
    previous = previous_program_day(program.opening_hours or {}, today)
    riley, quinn, kai = patients[5], patients[8], patients[11]
    nurse, cm = users["nurse@demo.test"], users["casemanager@demo.test"]
    session.flush()
    _at_risk(session, program, riley, nurse, previous, tz)
    session.execute(
        delete(CheckIn).where(
            CheckIn.patient_id == quinn.id,
            CheckIn.local_date > previous_program_day(program.opening_hours, today, 3),
        )
    )
    _overdue_ride(session, program, kai, cm, now, tz, today)
    held = datetime.combine(previous, time(9, 10), tz)
    session.add(
        Huddle(
            program_id=program.id,
            held_at=held,
            held_by_id=users["director@demo.test"].id,
        )
    )
    session.add(
        HuddleNote(
            program_id=program.id,
            patient_id=riley.id,
            body="Safety plan reviewed by phone last night. Dr. Park to see Riley "
            "before group today; family aware.",
            author_id=nurse.id,
            written_at=held + timedelta(minutes=5),
        )
    )
    session.add(
        HuddleAction(
            program_id=program.id,
            patient_id=kai.id,
            what="call about the ride",
            owner_id=cm.id,
            due_at=datetime.combine(today, time(11), tz),
            created_by_id=nurse.id,
            created_at=held + timedelta(minutes=8),
        )
    )


def _at_risk(session, program, riley, nurse, previous, tz) -> None:
    """Yesterday's check-in "I do not feel safe", a PHQ-9 up 6 with item 9 at 1, and
    the alert they raised, which the nurse acknowledged within minutes."""
    answered = datetime.combine(previous, time(16, 40), tz)
    checkin = session.scalar(
        select(CheckIn).where(
            CheckIn.patient_id == riley.id, CheckIn.local_date == previous
        )
    )
    if checkin is None:
        checkin = CheckIn(
            id=new_id(),
            patient_id=riley.id,
            local_date=previous,
            mood=2,
            craving=6,
            sleep_hours=4,
            medication=Medication.YES,
            feels_safe=False,
            idempotency_key=new_id(),
        )
        session.add(checkin)
    checkin.mood, checkin.feels_safe = 2, False
    last = session.scalar(
        select(ScreenerResponse.total)
        .where(
            ScreenerResponse.patient_id == riley.id,
            ScreenerResponse.instrument == Instrument.PHQ9,
        )
        .order_by(ScreenerResponse.completed_at.desc())
        .limit(1)
    )
    answers = [2, 2, 1, 1, 1, 1, 1, 0, 1]
    answers[0] += max(0, (last or 0) + 6 - sum(answers))  # six up on the last one
    answers[0] = min(answers[0], 3)
    session.add(
        ScreenerResponse(
            patient_id=riley.id,
            instrument=Instrument.PHQ9,
            answers=answers,
            total=sum(answers),
            severity=QUESTIONNAIRES[Instrument.PHQ9].band(sum(answers)),
            risk_positive=True,
            idempotency_key=new_id(),
            completed_at=answered - timedelta(minutes=10),
        )
    )
    session.flush()
    flag = RiskFlag(
        id=new_id(),
        patient_id=riley.id,
        program_id=program.id,
        open_key=riley.id,
        source="checkin",
        source_id=checkin.id,
        status=FlagStatus.ACKNOWLEDGED,
        opened_at=answered,
        positives=2,
        acknowledged_by_id=nurse.id,
        acknowledged_at=answered + timedelta(minutes=6),
    )
    session.add(flag)
    session.add_all(
        [
            RiskFlagEvent(
                flag_id=flag.id, at=answered, kind="opened", detail="checkin"
            ),
            RiskFlagEvent(
                flag_id=flag.id,
                at=answered + timedelta(minutes=6),
                kind="acknowledged",
                actor_id=nurse.id,
            ),
        ]
    )


def _overdue_ride(session, program, kai, cm, now, tz, today) -> None:
    """A ride to program tomorrow morning, asked for yesterday: the call to confirm
    it was due an hour ago and nobody has made it."""
    asked = now - timedelta(hours=20)
    due = now - timedelta(hours=1)
    need = Need(
        id=new_id(),
        patient_id=kai.id,
        program_id=program.id,
        kind=NeedKind.TRANSPORT,
        category=SdohCategory.TRANSPORTATION,
        urgency=Urgency.URGENT,
        status=TaskStatus.REQUESTED,
        owner_id=cm.id,
        ride_at=datetime.combine(today + timedelta(days=1), time(8, 30), tz),
        pickup="22 Birch Street",
        destination="The program",
        details="The bus does not run early enough for group.",
        created_at=asked,
        updated_at=asked,
        contact_due_at=due,
        due_at=due,
    )
    session.add(need)
    session.add_all(
        [
            NeedEvent(
                need_id=need.id,
                at=asked,
                actor_id=kai.id,
                kind=EventKind.CREATED,
                to_status=TaskStatus.REQUESTED,
            ),
            NeedEvent(need_id=need.id, at=asked, kind=EventKind.ROUTED, owner_id=cm.id),
        ]
    )
