"""Save check-ins and screeners (with the risk rule applied on the server, whatever the
client did), work out which screeners are due, and gather trends and caseloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.checkins.instruments import (
    QUESTIONNAIRES,
    Instrument,
    cssrs_normalize,
    cssrs_risk,
    is_risk_positive,
    score,
)
from portal.blueprints.checkins.models import (
    CheckIn,
    CheckInSubmission,
    Medication,
    ScreenerResponse,
)
from portal.blueprints.programs.context import (
    PatientContext,
    load_patient_context,
    local_today,
)
from portal.blueprints.programs.models import Program
from portal.blueprints.safety import escalation
from portal.blueprints.safety.models import SafetyPlan
from portal.blueprints.safety.services import safety_plan_of
from portal.db import new_id, utcnow

SCORED = (Instrument.PHQ9, Instrument.GAD7)


@dataclass(frozen=True)
class CheckInData:
    mood: int
    craving: int
    sleep_hours: Decimal
    medication: Medication
    feels_safe: bool
    note: str | None


@dataclass
class SaveResult:
    record: CheckIn | ScreenerResponse
    outcome: str  # "created", "updated" or "duplicate"
    risk: bool


@dataclass(frozen=True)
class CheckInSaved:
    checkin_id: str | None  # None: a resend that arrived while the first was saving
    outcome: str  # "created", "updated" or "duplicate"
    risk: bool


class KeyTaken(ValueError):
    """The phone's key was already used by another patient's sending (a forged
    request, or a clash): nothing of theirs is read or changed, and nothing is saved."""


def save_checkin(
    patient: User, state: CheckInState, data: CheckInData, key: str
) -> CheckInSaved:
    """Store today's check-in once per key; a new key the same day edits it."""
    if state.stored is not None:  # read with the state: this key was sent before
        if state.stored.patient_id != patient.id:
            raise KeyTaken("idempotency key belongs to someone else")
        return CheckInSaved(
            state.stored.checkin_id, "duplicate", not state.stored.feels_safe
        )
    made, now = new_id(), utcnow()
    answers = {name: getattr(data, name) for name in EDITABLE}
    checkin_id = _upsert_checkin(patient, state.today, answers, key, made, now)
    if checkin_id is None:  # the same key saved a moment ago, by a request in flight
        return CheckInSaved(None, "duplicate", not data.feels_safe)
    # A key recorded meanwhile by another sending raises IntegrityError here: the
    # view then reads again and answers as a resend.
    db.session.execute(
        insert(CheckInSubmission).values(
            idempotency_key=key,
            patient_id=patient.id,
            checkin_id=checkin_id,
            local_date=state.today,
            feels_safe=data.feels_safe,
            received_at=now,
        )
    )
    outcome = "created" if checkin_id == made else "updated"
    audit(
        "create" if outcome == "created" else "update",
        "checkin",
        patient_id=patient.id,
        object_id=checkin_id,
    )
    if not data.feels_safe:
        escalation.note_positive(patient, state.program, "checkin", checkin_id)
    return CheckInSaved(checkin_id, outcome, not data.feels_safe)


EDITABLE = ("mood", "craving", "sleep_hours", "medication", "feels_safe", "note")


def _upsert_checkin(
    patient: User, day: date, answers: dict, key: str, made: str, now: datetime
) -> str | None:
    """Insert the day's check-in, or change the answers and key of the one already
    there: one statement, whoever came first, so concurrent sendings keep one row. A
    row that already has this key is left alone and nothing is returned: a resend that
    raced its first sending is stored once."""
    statement = db.upsert(CheckIn).values(
        id=made,
        created_at=now,
        updated_at=now,
        patient_id=patient.id,
        local_date=day,
        idempotency_key=key,
        **answers,
    )
    changed = (*EDITABLE, "idempotency_key", "updated_at")
    return db.session.scalar(
        statement.on_conflict_do_update(
            index_elements=["patient_id", "local_date"],
            set_={name: statement.excluded[name] for name in changed},
            where=CheckIn.idempotency_key != statement.excluded.idempotency_key,
        ).returning(CheckIn.id)
    )


# ---- what the check-in reads ---------------------------------------------------------


@dataclass
class CheckInState:
    """What a check-in request reads. `stored` (the sending already stored under the
    posted key), `todays` (today's check-in) and `plan` are read only when asked for."""

    program: Program
    today: date
    stored: CheckInSubmission | None
    todays: CheckIn | None
    plan: SafetyPlan | None


def load_checkin_state(
    patient_id: str, *, key: str | None = None, page: bool = False, plan: bool = False
) -> CheckInState | None:
    """The patient's program, the sending stored under `key`, today's check-in (for
    the page) and the safety plan (where crisis help may show); None when the patient
    is not enrolled."""
    ctx = load_patient_context(patient_id)
    if ctx is None:
        return None
    today = local_today(ctx)
    stored = db.session.get(CheckInSubmission, key) if key is not None else None
    todays = (
        db.session.scalar(
            select(CheckIn).where(
                CheckIn.patient_id == patient_id, CheckIn.local_date == today
            )
        )
        if page
        else None
    )
    return CheckInState(
        ctx.program,
        today,
        stored,
        todays,
        safety_plan_of(patient_id) if plan else None,
    )


def save_screener(
    patient: User,
    ctx: PatientContext,
    instrument: Instrument,
    answers: list[int | None],
    key: str,
    recent_behavior: bool = False,
    language: str = "en",
) -> SaveResult:
    """Score on the server, store with the answers and the language the questionnaire
    was shown in, and open a flag on a risk answer."""
    duplicate = db.session.scalar(
        select(ScreenerResponse).where(ScreenerResponse.idempotency_key == key)
    )
    if duplicate is not None:
        if duplicate.patient_id != patient.id:
            raise KeyTaken("idempotency key belongs to someone else")
        return SaveResult(duplicate, "duplicate", duplicate.risk_positive)
    questionnaire = QUESTIONNAIRES[instrument]
    if instrument is Instrument.CSSRS:
        answers = cssrs_normalize(answers)
    total = score(questionnaire, answers)
    severity = (
        cssrs_risk(answers, recent_behavior)
        if instrument is Instrument.CSSRS
        else questionnaire.band(total)
    )
    stored = answers + (
        [1 if recent_behavior else 0] if instrument is Instrument.CSSRS else []
    )
    risk = is_risk_positive(instrument, answers)
    record = ScreenerResponse(
        patient_id=patient.id,
        instrument=instrument,
        answers=stored,
        total=None if instrument is Instrument.CSSRS else total,
        severity=severity,
        risk_positive=risk,
        idempotency_key=key,
        # Only a language it has a published version in (the C-SSRS: English).
        language=questionnaire.worded_in(language).language,
    )
    db.session.add(record)
    db.session.flush()
    audit(
        "create",
        f"screener_{instrument.value}",
        patient_id=patient.id,
        object_id=record.id,
    )
    if risk:
        escalation.note_positive(patient, ctx.program, instrument.value, record.id)
    return SaveResult(record, "created", risk)


# ---- which screeners are due ---------------------------------------------------------


@dataclass(frozen=True)
class DueScreener:
    instrument: Instrument
    due_on: date
    reason: str
    overdue: bool


def _due(
    instrument, last: datetime | None, ctx: PatientContext, schedule
) -> DueScreener | None:
    today, enrollment = local_today(ctx), ctx.enrollment
    last_day = last.astimezone(ctx.tz).date() if last else None
    discharge = enrollment.discharged_on
    window_opens = discharge - timedelta(days=3) if discharge else None
    if (
        window_opens
        and schedule.get("discharge")
        and window_opens <= today
        and (last_day is None or last_day < window_opens)
    ):
        return DueScreener(instrument, discharge, "before discharge", today > discharge)
    if last_day is None or last_day < enrollment.admitted_on:
        if schedule.get("admission"):
            due = enrollment.admitted_on
            return DueScreener(
                instrument, due, "at admission", today > due + timedelta(2)
            )
        return None
    every = schedule.get("every_days")
    if every and today >= last_day + timedelta(days=every):
        due = last_day + timedelta(days=every)
        return DueScreener(instrument, due, "weekly", today > due + timedelta(days=2))
    return None


# ---- trends --------------------------------------------------------------------------


@dataclass
class Trends:
    checkins: list[CheckIn]
    scores: dict[Instrument, list[ScreenerResponse]]


def trends_for(patient_id: str, since: date) -> Trends:
    """Check-ins since a day and all PHQ-9 and GAD-7 scores, oldest first."""
    checkins = list(
        db.session.scalars(
            select(CheckIn)
            .where(CheckIn.patient_id == patient_id, CheckIn.local_date >= since)
            .order_by(CheckIn.local_date)
        )
    )
    scores: dict[Instrument, list[ScreenerResponse]] = {i: [] for i in SCORED}
    for response in db.session.scalars(
        select(ScreenerResponse)
        .where(
            ScreenerResponse.patient_id == patient_id,
            ScreenerResponse.instrument.in_(SCORED),
        )
        .order_by(ScreenerResponse.completed_at)
    ):
        scores[response.instrument].append(response)
    return Trends(checkins, scores)


# ---- the clinician's caseload --------------------------------------------------------


@dataclass
class CaseloadRow:
    enrollment: object
    last_checkin: CheckIn | None = None
    checkins_last_7: int = 0
    scores: dict = None  # instrument -> (first total, latest total, latest severity)
    open_flag: object = None

    @property
    def missed_last_7(self) -> int:
        return max(0, 7 - self.checkins_last_7)


def caseload(enrollments: list, today: date) -> list[CaseloadRow]:
    """Last check-in, latest scores and change since admission, missed check-ins and
    open flags for a list of enrollments, in four queries whatever its length; flags
    first."""
    from portal.blueprints.safety.models import RiskFlag

    rows = {e.patient_id: CaseloadRow(e, scores={}) for e in enrollments}
    ids = list(rows)
    if not ids:
        return []
    latest_day = (
        select(CheckIn.patient_id, func.max(CheckIn.local_date).label("day"))
        .where(CheckIn.patient_id.in_(ids))
        .group_by(CheckIn.patient_id)
        .subquery()
    )
    for checkin in db.session.scalars(
        select(CheckIn).join(
            latest_day,
            (CheckIn.patient_id == latest_day.c.patient_id)
            & (CheckIn.local_date == latest_day.c.day),
        )
    ):
        rows[checkin.patient_id].last_checkin = checkin
    for patient_id, count in db.session.execute(
        select(CheckIn.patient_id, func.count())
        .where(
            CheckIn.patient_id.in_(ids), CheckIn.local_date > today - timedelta(days=7)
        )
        .group_by(CheckIn.patient_id)
    ):
        rows[patient_id].checkins_last_7 = count
    _attach_scores(rows, ids)
    for flag in db.session.scalars(select(RiskFlag).where(RiskFlag.open_key.in_(ids))):
        rows[flag.patient_id].open_flag = flag
    return sorted(
        rows.values(),
        key=lambda r: (r.open_flag is None, r.enrollment.patient.display_name.lower()),
    )


def _attach_scores(rows: dict, ids: list[str]) -> None:
    order = ScreenerResponse.completed_at
    partition = (ScreenerResponse.patient_id, ScreenerResponse.instrument)
    ranked = (
        select(
            ScreenerResponse.patient_id,
            ScreenerResponse.instrument,
            ScreenerResponse.total,
            ScreenerResponse.severity,
            func.row_number()
            .over(partition_by=partition, order_by=order.asc())
            .label("first"),
            func.row_number()
            .over(partition_by=partition, order_by=order.desc())
            .label("latest"),
        )
        .where(
            ScreenerResponse.patient_id.in_(ids),
            ScreenerResponse.instrument.in_(SCORED),
        )
        .subquery()
    )
    for patient_id, instrument, total, severity, first, latest in db.session.execute(
        select(ranked).where((ranked.c.first == 1) | (ranked.c.latest == 1))
    ):
        entry = rows[patient_id].scores.setdefault(
            Instrument(instrument), [None, None, None]
        )
        if first == 1:
            entry[0] = total
        if latest == 1:
            entry[1], entry[2] = total, severity


# ---- what Today shows ----------------------------------------------------------------


@dataclass
class TodayStatus:
    checked_in: bool
    due: list[DueScreener]


DEFAULT_SCHEDULE = {"admission": True, "every_days": 7, "discharge": True}


def today_status(ctx: PatientContext) -> TodayStatus:
    """Whether the patient checked in today, and which screeners are due: one query
    of scalar subqueries (the last check-in, the last PHQ-9 and GAD-7, the program's
    screener schedule)."""
    from portal.blueprints.safety.models import RiskSettings

    patient_id = ctx.enrollment.patient_id

    def last(instrument: Instrument):
        return (
            select(func.max(ScreenerResponse.completed_at))
            .where(
                ScreenerResponse.patient_id == patient_id,
                ScreenerResponse.instrument == instrument,
            )
            .scalar_subquery()
        )

    last_checkin, phq9, gad7, schedule = db.session.execute(
        select(
            select(func.max(CheckIn.local_date))
            .where(CheckIn.patient_id == patient_id)
            .scalar_subquery(),
            last(Instrument.PHQ9),
            last(Instrument.GAD7),
            select(RiskSettings.screener_schedule)
            .where(RiskSettings.program_id == ctx.program.id)
            .scalar_subquery(),
        )
    ).one()
    if isinstance(last_checkin, str):  # SQLite gives an aggregate's date as text
        last_checkin = date.fromisoformat(last_checkin)
    schedule = _as_dict(schedule) or DEFAULT_SCHEDULE
    due = [
        d
        for i, at in ((Instrument.PHQ9, phq9), (Instrument.GAD7, gad7))
        if (d := _due(i, _aware(at), ctx, schedule))
    ]
    return TodayStatus(last_checkin == local_today(ctx), due)


def _as_dict(value):
    """A scalar subquery's JSON column: SQLite gives text."""
    if isinstance(value, str):
        import json

        return json.loads(value)
    return value


def _aware(value):
    """Aggregates skip the column type: SQLite gives text, PostgreSQL an aware value."""
    from datetime import UTC

    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def note_positive_on_its_own(
    patient_id: str, program_id: str, source: str, key: str
) -> bool:
    """Open the patient's risk flag (or count this answer on the open one) and commit
    it alone, after the rest of the sending could not be saved and was rolled back.
    Once per sending key: the phone sends it again until it is saved, and the team is
    told once. False when the database refuses this too; the phone keeps the answers."""
    try:
        patient = db.session.get(User, patient_id)
        program = db.session.get(Program, program_id)
        escalation.note_unsaved_positive(patient, program, source, key)
        db.session.commit()
    except (DBAPIError, SQLAlchemyTimeoutError):
        db.session.rollback()
        return False
    return True
