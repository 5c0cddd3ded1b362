"""Save check-ins and screeners (with the risk rule applied on the server, whatever the
client did), work out which screeners are due, and gather trends and caseloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import Row, bindparam, exists, func, insert, select, text
from sqlalchemy.orm import aliased

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.checkins import escalation
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
    SafetyPlan,
    ScreenerResponse,
)
from portal.blueprints.schedule.services import PatientContext, local_today
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
        return CheckInSaved(state.stored.id, "duplicate", not state.stored.feels_safe)
    made, now = new_id(), utcnow()
    values = {
        "id": made,
        "created_at": now,
        "patient_id": patient.id,
        "local_date": state.today,
        **{name: getattr(data, name) for name in EDITABLE},
        "idempotency_key": key,
        "updated_at": now,
    }
    checkin_id = _store_with_key(db.session.connection(), values)
    if checkin_id is None:  # the same key saved a moment ago, by a request in flight
        return CheckInSaved(None, "duplicate", not data.feels_safe)
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


def _store_with_key(connection, values: dict) -> str | None:
    """Upsert the day's check-in and record its key as used, in one transaction: the
    check-in's id, or None when a request in flight stored this key first. A key
    recorded meanwhile by another sending raises IntegrityError (the view then reads
    again and answers as a resend).

    PostgreSQL does both in one statement; SQLite allows no INSERT inside a WITH, so
    it takes a second one."""
    if connection.dialect.name == "postgresql":
        return connection.execute(_upsert_statement(recorded=True), values).scalar()
    checkin_id = connection.execute(_upsert_statement(), values).scalar()
    if checkin_id is not None:
        row = values | {"id": checkin_id}
        connection.execute(
            _RECORD_KEY, {to: row[of] for of, to in _SUBMISSION_FROM_ROW.items()}
        )
    return checkin_id


# A used key's row, from the check-in row just written: check-in column -> its own.
_SUBMISSION_FROM_ROW = {
    "idempotency_key": "idempotency_key",
    "patient_id": "patient_id",
    "id": "checkin_id",
    "local_date": "local_date",
    "feels_safe": "feels_safe",
    "updated_at": "received_at",
}
_RECORD_KEY = insert(CheckInSubmission)


@cache
def _upsert_statement(recorded: bool = False):
    """INSERT today's check-in, or on the day's row change its answers and key: one
    statement whoever came first. A row that already has this key is left alone and
    nothing is returned: a resend that raced its first sending is stored once.
    `recorded` (PostgreSQL): the same statement also inserts the row written into
    `checkin_submissions` (a plain INSERT: a key used before is a unique violation).

    Written as text, the same on PostgreSQL and SQLite: SQLAlchemy does not cache its
    dialect INSERT ... ON CONFLICT and would compile it on every post. The typed bound
    values still go through the columns' types."""
    table = CheckIn.__table__
    names = [column.name for column in table.c]
    changed = (*EDITABLE, "idempotency_key", "updated_at")
    # Built from the tables' own column names, no input: S608 is moot.
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)})"  # noqa: S608
        f" VALUES ({', '.join(':' + name for name in names)})"
        " ON CONFLICT (patient_id, local_date) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in changed)
        + f" WHERE {table.name}.idempotency_key <> excluded.idempotency_key"
    )
    if recorded:
        read, written = (
            ", ".join(_SUBMISSION_FROM_ROW),
            ", ".join(_SUBMISSION_FROM_ROW.values()),
        )
        sql = (
            f"WITH saved AS ({sql} RETURNING {read})"  # noqa: S608
            f" INSERT INTO {CheckInSubmission.__tablename__} ({written})"
            f" SELECT {read} FROM saved RETURNING checkin_id"
        )
    else:
        sql += " RETURNING id"
    return text(sql).bindparams(
        *(bindparam(column.name, type_=column.type) for column in table.c)
    )


# ---- what the check-in reads: one query ----------------------------------------------


@dataclass(frozen=True)
class CheckInProgram:
    """The program's columns a check-in uses: its day, its on-call line, and the
    opening hours the crisis loop goes by."""

    id: str
    timezone: str
    on_call_phone: str
    opening_hours: dict


@dataclass(frozen=True)
class StoredCheckIn:
    """A sending already stored under the posted key: its check-in, its patient and
    its own "I feel safe" answer (the check-in may have been edited since)."""

    id: str
    patient_id: str
    feels_safe: bool


@dataclass(frozen=True)
class PlanSections:
    sections: dict


@dataclass
class CheckInState:
    """What a check-in request reads, in one statement. `stored` (the sending already
    stored under the posted key), `todays` (today's check-in) and `plan` are read only
    when asked for."""

    program: CheckInProgram
    today: date
    stored: StoredCheckIn | None
    todays: Row | None
    plan: PlanSections | None
    unread_notifications: int
    unread_messages: int


def load_checkin_state(
    patient_id: str, *, key: str | None = None, page: bool = False, plan: bool = False
) -> CheckInState | None:
    """The patient's program, the sending stored under `key`, today's check-in (for
    the page), the safety plan (where crisis help may show) and the header's two
    unread counts; None when the patient is not enrolled."""
    from portal.blueprints.notifications.services import unread_count_params

    params = {"patient_id": patient_id, "actor_id": patient_id}
    if key is not None:
        params["key"] = key
    statement = _state_statement(key is not None, page, plan)
    row = (
        db.session.connection()
        .execute(statement, params | unread_count_params(patient_id))
        .first()
    )
    if row is None:
        return None
    program = CheckInProgram(
        row.program_id, row.timezone, row.on_call_phone, row.opening_hours
    )
    today = utcnow().astimezone(ZoneInfo(program.timezone)).date()
    return CheckInState(
        program,
        today,
        StoredCheckIn(row.stored_id, row.stored_patient_id, row.stored_feels_safe)
        if key is not None and row.stored_id is not None
        else None,
        row if page and row.local_date == today else None,
        PlanSections(row.sections) if plan and row.sections is not None else None,
        row.unread_notifications or 0,
        row.unread_messages or 0,
    )


@cache
def _state_statement(keyed: bool, page: bool, plan: bool):
    """Built once for each combination of the parts read."""
    from portal.blueprints.auth.models import Role
    from portal.blueprints.messages.caseload import unread_messages_column
    from portal.blueprints.notifications.services import UNREAD_COUNT
    from portal.blueprints.staff.models import Enrollment, EnrollmentStatus, Program

    patient = bindparam("patient_id")
    columns = [
        Program.id.label("program_id"),
        Program.timezone,
        Program.on_call_phone,
        Program.opening_hours,
        UNREAD_COUNT.scalar_subquery().label("unread_notifications"),
        unread_messages_column(Role.PATIENT).label("unread_messages"),
    ]
    joins = []
    if keyed:  # the sending stored under this key, if any: a resend
        stored = CheckInSubmission
        columns += [
            stored.checkin_id.label("stored_id"),
            stored.patient_id.label("stored_patient_id"),
            stored.feels_safe.label("stored_feels_safe"),
        ]
        joins.append((stored, stored.idempotency_key == bindparam("key")))
    if page:  # the latest check-in, by the (patient, day) index: today's, if any
        latest = aliased(CheckIn, name="latest")
        last_day = (
            select(func.max(CheckIn.local_date))
            .where(CheckIn.patient_id == patient)
            .scalar_subquery()
        )
        columns += [latest.local_date, *(getattr(latest, f) for f in EDITABLE)]
        joins.append(
            (latest, (latest.patient_id == patient) & (latest.local_date == last_day))
        )
    if plan:
        columns.append(SafetyPlan.sections)
        joins.append((SafetyPlan, SafetyPlan.patient_id == patient))
    statement = select(*columns).select_from(Enrollment).join(Enrollment.program)
    for target, on in joins:
        statement = statement.outerjoin(target, on)
    return (
        statement.where(
            Enrollment.patient_id == patient,
            Enrollment.status != EnrollmentStatus.DISCHARGED,
        )
        .order_by(Enrollment.admitted_on.desc())
        .limit(1)
    )


def safety_plan_sections(patient_id: str) -> PlanSections | None:
    """The safety plan alone, for a page that did not read it with its state."""
    sections = (
        db.session.connection()
        .execute(_PLAN_STATEMENT, {"patient_id": patient_id})
        .scalar()
    )
    return PlanSections(sections) if sections is not None else None


_PLAN_STATEMENT = select(SafetyPlan.sections).where(
    SafetyPlan.patient_id == bindparam("patient_id")
)


def save_screener(
    patient: User,
    ctx: PatientContext,
    instrument: Instrument,
    answers: list[int | None],
    key: str,
    recent_behavior: bool = False,
) -> SaveResult:
    """Score on the server, store with the answers, and open a flag on a risk answer."""
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


def open_flag_clause():
    """SQL condition on Enrollment: the patient has an unresolved risk flag."""
    from portal.blueprints.checkins.models import RiskFlag
    from portal.blueprints.staff.models import Enrollment

    return exists().where(RiskFlag.open_key == Enrollment.patient_id)


def caseload(enrollments: list, today: date) -> list[CaseloadRow]:
    """Last check-in, latest scores and change since admission, missed check-ins and
    open flags for a list of enrollments, in four queries whatever its length; flags
    first."""
    from portal.blueprints.checkins.models import RiskFlag

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


# ---- what Today shows: one query -----------------------------------------------------


@dataclass
class TodayStatus:
    checked_in: bool
    due: list[DueScreener]


DEFAULT_SCHEDULE = {"admission": True, "every_days": 7, "discharge": True}


def today_status_columns(patient, program_id):
    """What Today needs to know about check-ins and screeners, as four scalar
    subqueries that another statement can carry (Today runs them with its enrollment,
    in one query): the last check-in's local date, the last PHQ-9 and GAD-7, and the
    program's screener schedule."""
    from portal.blueprints.checkins.models import RiskSettings

    def last(instrument: Instrument):
        return (
            select(func.max(ScreenerResponse.completed_at))
            .where(
                ScreenerResponse.patient_id == patient,
                ScreenerResponse.instrument == instrument,
            )
            .scalar_subquery()
        )

    last_checkin = (
        select(func.max(CheckIn.local_date))
        .where(CheckIn.patient_id == patient)
        .scalar_subquery()
    )
    schedule = (
        select(RiskSettings.screener_schedule)
        .where(RiskSettings.program_id == program_id)
        .scalar_subquery()
    )
    return last_checkin, last(Instrument.PHQ9), last(Instrument.GAD7), schedule


def today_status_from(values: tuple, ctx: PatientContext) -> TodayStatus:
    """TodayStatus from the values of `today_status_columns`."""
    last_checkin, phq9, gad7, schedule = values
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
