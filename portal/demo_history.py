"""Made-up program history, the same every run: patients admitted and discharged over
the weeks, attendance, daily check-ins, PHQ-9 and GAD-7, risk alerts and how fast they
were taken, requests for help, peer contacts, messages and audit rows.

`portal seed --history` makes a year of it for the scale data; the demo makes half a
year, so that the director's board shows something real. Rows go in with bulk INSERTs
(COPY on PostgreSQL): a year for 50,000 patients is millions of rows.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from portal.audit import AuditEvent, audit_keys, content_hash
from portal.blueprints.auth.models import User
from portal.blueprints.checkins.instruments import QUESTIONNAIRES, Instrument
from portal.blueprints.checkins.models import CheckIn, ScreenerResponse
from portal.blueprints.messages.models import (
    Message,
    MessageThread,
    PeerContact,
    ThreadRead,
)
from portal.blueprints.needs.models import (
    EventKind,
    HousingSituation,
    Need,
    NeedEvent,
    NeedKind,
    NeedOutcome,
    OtherNeed,
    SdohCategory,
    TaskStatus,
    Urgency,
)
from portal.blueprints.needs.sla import DEFAULT_RULES, Clock, Rule, deadlines
from portal.blueprints.programs.models import Enrollment, LevelOfCare, Program, Track
from portal.blueprints.safety.escalation import BACKUP, DIRECTOR, raised_detail
from portal.blueprints.safety.models import RiskFlag, RiskFlagEvent, RiskSettings
from portal.blueprints.schedule.models import (
    Attendance,
    AttendanceStatus,
    GroupSession,
    SessionKind,
)
from portal.db import Base
from portal.security import Role

STAY_DAYS = (28, 56)  # stays of 4 to 8 weeks
PHP_SHARE = 0.35
FLAG_SHARE = 0.07  # patients with a risk alert during their stay
NEED_SHARE = 0.3  # patients who ask for help once
PEER_MINUTES = (5, 10, 15, 20, 25, 30, 45, 60)
CLINIC_ADDRESS = "10.20.0.15"


@dataclass
class Cast:
    """Who works in the program: one staff member per role (a director too)."""

    program: Program
    tracks: dict[LevelOfCare, Track]
    staff: dict[Role, User]


@dataclass
class Made:
    """Rows waiting for their bulk INSERT, per table; audit rows are kept apart, so
    that all programs' rows can go in in time order."""

    rows: dict[Table, list[dict]] = field(default_factory=lambda: defaultdict(list))
    audit: list[tuple] = field(default_factory=list)

    def add(self, model, **values) -> dict:
        self.rows[model.__table__].append(values)
        return values

    def note(self, at, actor: User, patient_id, action, kind, object_id=None):
        self.audit.append(
            (at, actor.id, actor.role.value, patient_id, action, kind, object_id)
        )


class _Program:
    """One program's calendar, schedule and people, and the rows made for it."""

    def __init__(self, session: Session, cast: Cast, now: datetime, rng, open_requests):
        self.cast, self.rng, self.now = cast, rng, now
        self.open_requests = open_requests
        self.tz = ZoneInfo(cast.program.timezone)
        self.today = now.astimezone(self.tz).date()
        self.clock = Clock(cast.program.opening_hours or {}, cast.program.timezone)
        self.groups: dict[tuple[str, int], list[str]] = defaultdict(list)
        for gs_id, track_id, weekday in session.execute(
            select(GroupSession.id, GroupSession.track_id, GroupSession.weekday).where(
                GroupSession.track_id.in_([t.id for t in cast.tracks.values()]),
                GroupSession.kind == SessionKind.GROUP,
                GroupSession.active.is_(True),
            )
        ):
            self.groups[(track_id, weekday)].append(gs_id)
        self.made = Made()
        self._noon: dict[date, datetime] = {}

    def id(self) -> str:
        """A random version-4 UUID from the seeded generator: the same every run."""
        h = f"{self.rng.getrandbits(128):032x}"
        variant = "89ab"[int(h[16], 16) & 3]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), self.tz)

    def noon(self, day: date) -> datetime:
        if day not in self._noon:
            self._noon[day] = self.at(day, 12)
        return self._noon[day]

    def staff(self, role: Role) -> User:
        return self.cast.staff[role]


def make_history(
    session: Session,
    cast: Cast,
    patient_ids: list[str],
    weeks: int,
    now: datetime,
    rng: random.Random,
    open_requests: bool = True,
) -> Made:
    """Enrollments and history for these patients (who exist): admissions spread
    over the last `weeks` weeks. Inserts everything but the audit rows, which it
    returns in `Made.audit` for `insert_audit_rows`. Without `open_requests`, only
    requests that are done by now are made (the demo's queue stays its own)."""
    program = _Program(session, cast, now, rng, open_requests)
    _risk_settings(session, cast)
    for patient_id in patient_ids:
        _patient(program, patient_id, weeks)
    made = program.made.rows
    for table in Base.metadata.sorted_tables:  # the referred-to tables first
        bulk_insert(session, table, made.get(table, []))
    return program.made


def _risk_settings(session: Session, cast: Cast) -> None:
    if session.get(RiskSettings, cast.program.id) is None:
        session.add(
            RiskSettings(
                program_id=cast.program.id,
                on_call_id=cast.staff[Role.NURSE].id,
                backup_id=cast.staff[Role.THERAPIST].id,
            )
        )
        session.flush()


@dataclass
class _Stay:
    patient_id: str
    admitted: date
    discharged: date | None
    last_day: date  # the last day with history (yesterday at the latest)
    track: Track
    engagement: float  # how likely they come and check in
    improvement: float  # how much of their symptoms lift by the end of a full stay


def _patient(p: _Program, patient_id: str, weeks: int) -> None:
    rng = p.rng
    admitted = p.today - timedelta(days=rng.randint(0, weeks * 7 + 20))
    end = admitted + timedelta(days=rng.randint(*STAY_DAYS))
    discharged = end if end < p.today else None
    level = LevelOfCare.PHP if rng.random() < PHP_SHARE else LevelOfCare.IOP
    stay = _Stay(
        patient_id,
        admitted,
        discharged,
        min(discharged or p.today, p.today - timedelta(days=1)),
        p.cast.tracks[level],
        rng.uniform(0.45, 0.98),
        rng.uniform(-0.1, 0.8),
    )
    enrollment_id = p.id()
    p.made.add(
        Enrollment,
        id=enrollment_id,
        patient_id=patient_id,
        program_id=p.cast.program.id,
        track_id=stay.track.id,
        level_of_care=level.value,
        admitted_on=admitted,
        discharged_on=discharged,
        status="discharged" if discharged else "active",
        created_at=p.at(admitted, 8),
    )
    p.made.note(
        p.at(admitted, 8),
        p.staff(Role.DIRECTOR),
        patient_id,
        "create",
        "enrollment",
        enrollment_id,
    )
    _days(p, stay)
    _screeners(p, stay)
    if rng.random() < FLAG_SHARE and stay.last_day >= admitted:
        _flag(p, stay)
    if rng.random() < NEED_SHARE and stay.last_day >= admitted:
        _need(p, stay)
    _peer_support(p, stay)


def _days(p: _Program, stay: _Stay) -> None:
    """Attendance at each of the track's groups and the daily check-in, per day."""
    rng, day = p.rng, stay.admitted
    recorder = p.staff(Role.THERAPIST)
    while day <= stay.last_day:
        for session_id in p.groups.get((stay.track.id, day.weekday()), ()):
            p.made.add(
                Attendance,
                id=p.id(),
                patient_id=stay.patient_id,
                group_session_id=session_id,
                occurs_on=day,
                status=_attendance(rng, stay.engagement).value,
                recorded_by_id=recorder.id,
                recorded_at=p.noon(day),
            )
        if rng.random() < stay.engagement * 0.9:
            _checkin(p, stay, day)
        if day.weekday() == 0:
            p.made.note(
                p.noon(day), recorder, stay.patient_id, "read", "enrollment", None
            )
        day += timedelta(days=1)


def _attendance(rng, engagement: float) -> AttendanceStatus:
    draw = rng.random()
    if draw < engagement:
        return (
            AttendanceStatus.LATE
            if draw < engagement * 0.1
            else AttendanceStatus.PRESENT
        )
    if draw < engagement + (1 - engagement) * 0.3:
        return AttendanceStatus.EXCUSED
    return AttendanceStatus.ABSENT


def _checkin(p: _Program, stay: _Stay, day: date) -> None:
    rng = p.rng
    progress = (day - stay.admitted).days / max(1, STAY_DAYS[1])
    better = stay.improvement * progress
    at = p.at(day, rng.randint(8, 21), rng.randint(0, 59))
    p.made.add(
        CheckIn,
        id=p.id(),
        patient_id=stay.patient_id,
        local_date=day,
        mood=max(0, min(10, round(3 + 6 * better + rng.uniform(-1.5, 1.5)))),
        craving=max(0, min(10, round(7 - 6 * better + rng.uniform(-1.5, 1.5)))),
        sleep_hours=Decimal(str(rng.choice([5, 5.5, 6, 6.5, 7, 7.5, 8, 8.5]))),
        medication="yes" if rng.random() < 0.85 else "no",
        feels_safe=True,
        note=None,
        idempotency_key=p.id(),
        updated_at=at,
        created_at=at,
    )


@dataclass(frozen=True)
class _PatientActor:
    id: str
    role: Role = Role.PATIENT


def _patient_user(stay: _Stay) -> _PatientActor:
    return _PatientActor(stay.patient_id)


def _screeners(p: _Program, stay: _Stay) -> None:
    """PHQ-9 and GAD-7 at admission, about weekly, and near discharge."""
    rng = p.rng
    starts = {Instrument.PHQ9: rng.randint(8, 24), Instrument.GAD7: rng.randint(6, 19)}
    day = stay.admitted + timedelta(days=rng.choice((0, 0, 1, 2)))
    days = []
    while day <= stay.last_day:
        days.append(day)
        day += timedelta(days=7 + rng.choice((0, 0, 0, 1, 2, 3, 5)))
    if stay.discharged and stay.discharged <= stay.last_day:
        near_end = stay.discharged - timedelta(days=rng.randint(0, 2))
        if not days or near_end > days[-1]:
            days.append(near_end)
    for day in days:
        progress = (day - stay.admitted).days / max(1, STAY_DAYS[1])
        at = p.at(day, rng.randint(9, 19), rng.randint(0, 59))
        for instrument, start in starts.items():
            if rng.random() < 0.08:
                continue  # skipped this time
            total = round(
                start * (1 - stay.improvement * progress) + rng.uniform(-2, 2)
            )
            _screener(p, stay, instrument, at, total)
        p.made.note(at, _patient_user(stay), stay.patient_id, "create", "screener")


def _screener(p, stay, instrument: Instrument, at: datetime, total: int) -> None:
    questionnaire = QUESTIONNAIRES[instrument]
    scored = 8 if instrument is Instrument.PHQ9 else len(questionnaire.items)
    total = max(0, min(3 * scored, total))
    answers = [
        total // scored + (1 if n < total % scored else 0) for n in range(scored)
    ]
    p.rng.shuffle(answers)
    if instrument is Instrument.PHQ9:
        answers.append(0)  # item 9: no risk answer in made-up data
    p.made.add(
        ScreenerResponse,
        id=p.id(),
        patient_id=stay.patient_id,
        instrument=instrument.value,
        answers=answers,
        total=total,
        severity=questionnaire.band(total),
        risk_positive=False,
        idempotency_key=p.id(),
        completed_at=at,
    )


def _flag(p: _Program, stay: _Stay) -> None:
    """One risk alert, taken after a few minutes, now and then after T1 or T2."""
    rng = p.rng
    day = stay.admitted + timedelta(
        days=rng.randint(0, (stay.last_day - stay.admitted).days)
    )
    opened = p.at(day, rng.randint(8, 16), rng.randint(0, 59))
    waited = timedelta(minutes=min(180, rng.lognormvariate(math.log(7), 0.8)))
    taken = opened + waited
    nurse, therapist = p.staff(Role.NURSE), p.staff(Role.THERAPIST)
    taker = therapist if waited > timedelta(minutes=15) else nurse
    flag_id = p.id()
    p.made.add(
        RiskFlag,
        id=flag_id,
        patient_id=stay.patient_id,
        program_id=p.cast.program.id,
        open_key=None,
        source="checkin",
        source_id=p.id(),
        status="resolved",
        opened_at=opened,
        escalation_level=0,
        positives=1,
        acknowledged_by_id=taker.id,
        acknowledged_at=taken,
        risk_level="moderate",
        plan="Safety plan reviewed; family contacted.",
        assessed_by_id=taker.id,
        assessed_at=taken + timedelta(minutes=20),
        resolved_by_id=taker.id,
        resolved_at=taken + timedelta(hours=2),
        resolution_note="Seen in person; safe to go home.",
    )
    events = [(opened, "opened", "checkin"), (opened, "raised", raised_detail(0))]
    for level, after in ((BACKUP, 15), (DIRECTOR, 30)):
        if waited > timedelta(minutes=after):
            events.append(
                (opened + timedelta(minutes=after), "raised", raised_detail(level))
            )
    events += [
        (taken, "acknowledged", None),
        (taken + timedelta(hours=2), "resolved", None),
    ]
    for at, kind, detail in events:
        p.made.add(
            RiskFlagEvent,
            id=p.id(),
            flag_id=flag_id,
            at=at,
            kind=kind,
            actor_id=taker.id if kind in ("acknowledged", "resolved") else None,
            recipient_id=None,
            channel=None,
            detail=detail,
        )
    p.made.note(taken, taker, stay.patient_id, "acknowledge", "risk_flag", flag_id)


NEED_KINDS = (
    (NeedKind.TRANSPORT, SdohCategory.TRANSPORTATION, None, None),
    (
        NeedKind.HOUSING,
        SdohCategory.HOUSING_INSTABILITY,
        None,
        HousingSituation.AT_RISK,
    ),
    (NeedKind.OTHER, SdohCategory.FOOD, OtherNeed.FOOD, None),
    (NeedKind.OTHER, SdohCategory.DIGITAL_ACCESS, OtherNeed.PHONE, None),
)


def _need(p: _Program, stay: _Stay) -> None:
    """One request: first contact some opening hours later, then most are done."""
    rng, now = p.rng, p.now
    kind, category, other, housing = rng.choice(NEED_KINDS)
    urgency = rng.choice((Urgency.URGENT, Urgency.SOON, Urgency.SOON, Urgency.ROUTINE))
    day = stay.admitted + timedelta(
        days=rng.randint(0, (stay.last_day - stay.admitted).days)
    )
    created = p.at(day, rng.randint(7, 18), rng.randint(0, 59))
    ride_at = (
        p.at(day + timedelta(days=rng.randint(2, 5)), 8, 30)
        if kind is NeedKind.TRANSPORT
        else None
    )
    rule = Rule(*DEFAULT_RULES[(kind, urgency)])
    due = deadlines(p.clock, rule, kind, created, ride_at)
    contact = p.clock.after(created, rule.contact_hours * rng.uniform(0.1, 1.6))
    values = {
        "status": TaskStatus.REQUESTED,
        "first_contact_at": None,
        "closed_at": None,
        "due_at": due.contact_due,
        "outcome": None,
        "status_reason": None,
        "help_received": None,
    }
    if contact and contact <= now:
        values.update(
            status=TaskStatus.IN_PROGRESS,
            first_contact_at=contact,
            due_at=due.resolve_due,
        )
        draw = rng.random()
        closed = p.clock.after(contact, rng.uniform(1, 30))
        if draw < 0.75 and closed and closed <= now:
            values.update(
                status=TaskStatus.COMPLETED,
                closed_at=closed,
                due_at=None,
                outcome=NeedOutcome.ARRANGED,
                # "Did you get the help?" from the same draw (no new one: the rest
                # of the history stays as it was): most yes, some partly or no,
                # a fifth never answer
                help_received=_help_answer(draw),
            )
        elif draw < 0.82 and closed and closed <= now:
            values.update(
                status=TaskStatus.FAILED,
                closed_at=closed,
                due_at=None,
                outcome=NeedOutcome.NOT_POSSIBLE,
                status_reason="Nothing was available in time.",
            )
    if values["closed_at"] is None and not p.open_requests:
        return
    need_id = p.id()
    p.made.add(
        Need,
        id=need_id,
        patient_id=stay.patient_id,
        program_id=p.cast.program.id,
        kind=kind.value,
        category=category.value,
        other_need=other.value if other else None,
        urgency=int(urgency),
        status=values["status"].value,
        status_reason=values["status_reason"],
        owner_id=p.staff(Role.CASE_MANAGER).id,
        ride_at=ride_at,
        pickup="Home" if ride_at else None,
        destination="The program" if ride_at else None,
        wheelchair=False,
        housing_situation=housing.value if housing else None,
        details="Made-up request for the scale data.",
        contact_due_at=due.contact_due,
        resolve_due_at=due.resolve_due,
        due_at=values["due_at"],
        first_contact_at=values["first_contact_at"],
        closed_at=values["closed_at"],
        outcome=values["outcome"].value if values["outcome"] else None,
        help_received=values["help_received"],
        help_received_at=values["closed_at"] if values["help_received"] else None,
        updated_at=values["closed_at"] or values["first_contact_at"] or created,
        version=1,
        created_at=created,
    )
    p.made.add(
        NeedEvent,
        id=p.id(),
        need_id=need_id,
        at=created,
        actor_id=stay.patient_id,
        kind=EventKind.CREATED.value,
        to_status=TaskStatus.REQUESTED.value,
        patient_visible=True,
    )
    p.made.note(
        created, _patient_user(stay), stay.patient_id, "create", "need", need_id
    )


def _peer_support(p: _Program, stay: _Stay) -> None:
    """A few logged contacts, and a thread of messages with the peer specialist:
    most answered the same opening day, some the next, a few not at all."""
    rng, peer = p.rng, p.staff(Role.PEER)
    span = (stay.last_day - stay.admitted).days
    if span < 0:
        return
    thread_id = p.id()
    for _ in range(rng.randint(0, 4)):
        p.made.add(
            PeerContact,
            id=p.id(),
            patient_id=stay.patient_id,
            peer_id=peer.id,
            thread_id=thread_id,
            contact_on=stay.admitted + timedelta(days=rng.randint(0, span)),
            minutes=rng.choice(PEER_MINUTES),
            kind=rng.choice(("message", "call", "in_person")),
            note=None,
            hcpcs="H0038",
            created_at=p.noon(stay.admitted),
        )
    sent = []
    for _ in range(rng.randint(0, 4)):
        day = stay.admitted + timedelta(days=rng.randint(0, span))
        asked = p.at(day, rng.randint(7, 21), rng.randint(0, 59))
        sent.append((asked, stay.patient_id))
        draw = rng.random()
        hours = rng.uniform(0.2, 6) if draw < 0.7 else rng.uniform(9.5, 20)
        reply = p.clock.after(asked, hours) if draw < 0.92 else None
        if reply and reply <= p.now:
            sent.append((reply, peer.id))
    _thread(p, stay, thread_id, sorted(sent))


def _thread(p: _Program, stay: _Stay, thread_id: str, sent: list) -> None:
    last_at = sent[-1][0] if sent else None
    waiting = sent[-1][0] if sent and sent[-1][1] == stay.patient_id else None
    p.made.add(
        MessageThread,
        id=thread_id,
        patient_id=stay.patient_id,
        last_seq=len(sent),
        last_message_at=last_at,
        waiting_since=waiting,
        flagged_at=None,
        created_at=p.at(stay.admitted, 9),
    )
    for seq, (at, author) in enumerate(sent, start=1):
        message_id = p.id()
        p.made.add(
            Message,
            id=message_id,
            thread_id=thread_id,
            seq=seq,
            author_id=author,
            body="How are you doing today?"
            if author != stay.patient_id
            else "Can we talk?",
            crisis_phrases=None,
            created_at=at,
        )
        actor = _patient_user(stay) if author == stay.patient_id else p.staff(Role.PEER)
        p.made.note(at, actor, stay.patient_id, "create", "message", message_id)
    for reader in (stay.patient_id, p.staff(Role.PEER).id):
        p.made.add(
            ThreadRead,
            thread_id=thread_id,
            user_id=reader,
            last_read_seq=len(sent),
            read_at=last_at or p.at(stay.admitted, 9),
        )


# ---- writing ---------------------------------------------------------------------


def insert_audit_rows(session: Session, made: list[tuple]) -> int:
    """The audit rows of every program, oldest first, each with its content hash
    (with this environment's audit key, as a request would write them)."""
    keys = audit_keys()
    key = keys[-1][1] if keys else None
    rows = []
    for at, actor_id, role, patient_id, action, kind, object_id in sorted(
        made, key=lambda row: row[0]
    ):
        values = {
            "at": at.astimezone(UTC),  # as stored and read back: the hash must match
            "actor_id": actor_id,
            "actor_role": role,
            "patient_id": patient_id,
            "action": action,
            "data_kind": kind,
            "object_id": object_id,
            "ip": CLINIC_ADDRESS,
            "outcome": "allowed",
            "detail": None,
        }
        values["row_hash"] = content_hash(values, key)
        rows.append(values)
    bulk_insert(session, AuditEvent.__table__, rows)
    return len(rows)


def bulk_insert(session: Session, table: Table, rows: list[dict]) -> None:
    """Insert many rows at once: COPY on PostgreSQL, multi-row INSERTs on SQLite."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        for start in range(0, len(rows), 5000):
            connection.execute(insert(table), rows[start : start + 5000])
        return
    _skip_row_triggers(connection)
    # COPY fills only the server's defaults: the model's own (a column added since
    # the rows were written, such as a screener's language) are filled in here.
    defaults = {
        c.name: c.default.arg
        for c in table.columns
        if c.name not in rows[0] and c.default is not None and c.default.is_scalar
    }
    columns = [*rows[0], *defaults]
    names = ", ".join(f'"{c}"' for c in columns)
    raw = connection.connection.driver_connection
    copy_into = f"COPY {table.name} ({names}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(copy_into) as copy:
        for row in rows:
            copy.write_row([_copy_value(row.get(c, defaults.get(c))) for c in columns])


def _skip_row_triggers(connection) -> None:
    """For this transaction, when the database user may: no foreign-key check per
    row (the made-up rows refer only to rows made before them), which halves the
    time of a year's load. The audit log's triggers guard UPDATE and DELETE only."""
    if connection.exec_driver_sql(
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
    ).scalar():
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")


def _copy_value(value):
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def _help_answer(draw: float) -> str | None:
    """A done request's answer to "Did you get the help?" from its draw (0 to 0.75)."""
    if draw < 0.45:
        return "yes"
    if draw < 0.52:
        return "partly"
    if draw < 0.6:
        return "no"
    return None
