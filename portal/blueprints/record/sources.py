"""Where each kind of a patient's record lives: one SELECT per source, filtered by
patient, by clinical date and by last change. The timeline, the FHIR API and the
patient's own copy all read through these, so every page costs one query per kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Bundle, aliased

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.auth.models import User
from portal.blueprints.checkins.models import CheckIn, ScreenerResponse
from portal.blueprints.messages.models import Message, MessageThread
from portal.blueprints.needs.models import Need, NeedEvent
from portal.blueprints.record.kinds import RecordKind
from portal.blueprints.record.models import FhirClient, RecordConsent
from portal.blueprints.reviews.models import Authorization, Coverage
from portal.blueprints.safety.models import RiskFlag, RiskFlagEvent
from portal.blueprints.schedule.models import Appointment, Attendance, GroupSession


@dataclass(frozen=True)
class Window:
    """A half-open UTC range [low, high); either end may be open. A window of whole
    local days also keeps those days, for columns that hold a day (a check-in's)."""

    low: datetime | None = None
    high: datetime | None = None
    first_day: date | None = None
    last_day: date | None = None

    def narrow(self, other: Window) -> Window:
        lows = [w for w in (self.low, other.low) if w is not None]
        highs = [w for w in (self.high, other.high) if w is not None]
        return Window(max(lows) if lows else None, min(highs) if highs else None)

    @classmethod
    def local_days(cls, first: date | None, last: date | None, tz) -> Window:
        """Whole local days from first to last inclusive, as UTC instants."""
        low = datetime.combine(first, time.min, tz).astimezone(UTC) if first else None
        high = (
            datetime.combine(last + timedelta(days=1), time.min, tz).astimezone(UTC)
            if last
            else None
        )
        return cls(low, high, first, last)


def _day_bounds(window: Window) -> tuple[date | None, date | None]:
    """The days a window touches, for columns that hold a day and not an instant."""
    if window.first_day or window.last_day:
        last = window.last_day + timedelta(days=1) if window.last_day else None
        return window.first_day, last
    low = window.low.date() if window.low else None
    high = None
    if window.high is not None:
        high = window.high.date()
        if window.high.timetz().replace(tzinfo=None) != time.min:
            high += timedelta(days=1)
    return low, high


@dataclass(frozen=True)
class Source:
    """One table (with what it joins) that some of the record comes from."""

    name: str
    kind: RecordKind | None
    build: Callable[[], Select]
    patient_col: Callable[[], ColumnElement]
    date_col: Callable[[], ColumnElement]
    updated_col: Callable[[], ColumnElement]
    id_col: Callable[[], ColumnElement]
    date_is_day: bool = False
    patient_of: Callable[[tuple], str] = lambda row: row[0].patient_id

    def statement(
        self,
        patients: Callable | None = None,
        dates: Window | None = None,
        updated: Window | None = None,
        ids: tuple | None = None,
        limit: int | None = None,
        ascending: bool = False,
    ) -> Select:
        """Rows for some patients, newest first (or oldest), filtered by date and last
        change.

        Each row ends with its clinical date or time (`when`), to merge sources.
        """
        stmt = self.build().add_columns(self.date_col().label("when"))
        if patients is not None:
            stmt = stmt.where(patients(self.patient_col()))
        if ids is not None:
            stmt = stmt.where(self.id_col().in_(ids))
        stmt = stmt.where(*self._window(self.date_col(), dates, self.date_is_day))
        stmt = stmt.where(*self._window(self.updated_col(), updated, False))
        if ascending:
            stmt = stmt.order_by(self.date_col().asc(), self.id_col().asc())
        else:
            stmt = stmt.order_by(self.date_col().desc(), self.id_col().desc())
        return stmt.limit(limit) if limit is not None else stmt

    @staticmethod
    def _window(column, window: Window | None, is_day: bool) -> list:
        if window is None:
            return []
        low, high = _day_bounds(window) if is_day else (window.low, window.high)
        clauses = []
        if low is not None:
            clauses.append(column >= low)
        if high is not None:
            clauses.append(column < high)
        return clauses

    def rows(self, **filters) -> list:
        return db.session.execute(self.statement(**filters)).all()


def when_of(row) -> datetime:
    """A row's clinical time as an aware UTC datetime (a day counts from midnight)."""
    value = row._mapping["when"]
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time.min, UTC)


def plain(model) -> Bundle:
    """A model's columns as a plain row with the same attribute names: many rows load
    several times faster than ORM objects (nothing here changes them)."""
    return Bundle(model.__tablename__, *model.__table__.columns)


def one_patient(patient_id: str) -> Callable:
    return lambda column: column == patient_id


def _risk_updated():
    return func.coalesce(
        RiskFlag.resolved_at,
        RiskFlag.assessed_at,
        RiskFlag.acknowledged_at,
        RiskFlag.opened_at,
    )


def _appointments() -> Select:
    staff = aliased(User, name="appointment_staff")
    return select(plain(Appointment), staff.display_name).join(
        staff, Appointment.staff_id == staff.id
    )


def _attendance() -> Select:
    facilitator = aliased(User, name="facilitator")
    return (
        select(plain(Attendance), plain(GroupSession), facilitator.display_name)
        .join(GroupSession, Attendance.group_session_id == GroupSession.id)
        .outerjoin(facilitator, GroupSession.facilitator_id == facilitator.id)
    )


def _risk_events() -> Select:
    actor = aliased(User, name="event_actor")
    recipient = aliased(User, name="event_recipient")
    return (
        select(RiskFlagEvent, RiskFlag, actor.display_name, recipient.display_name)
        .join(RiskFlag, RiskFlagEvent.flag_id == RiskFlag.id)
        .outerjoin(actor, RiskFlagEvent.actor_id == actor.id)
        .outerjoin(recipient, RiskFlagEvent.recipient_id == recipient.id)
    )


def _consents() -> Select:
    return select(RecordConsent, FhirClient.name, FhirClient.client_id).join(
        FhirClient, RecordConsent.client_id == FhirClient.id
    )


def _audit() -> Select:
    person = aliased(User, name="audit_person")
    return (
        select(AuditEvent, person.display_name, FhirClient.name)
        .outerjoin(person, AuditEvent.actor_id == person.id)
        .outerjoin(FhirClient, AuditEvent.actor_id == FhirClient.id)
    )


PATIENTS = Source(
    "patients",
    None,
    lambda: select(User),
    lambda: User.id,
    lambda: User.created_at,
    lambda: User.created_at,
    lambda: User.id,
    patient_of=lambda row: row[0].id,
)
CHECKINS = Source(
    "checkins",
    RecordKind.CHECKIN,
    lambda: select(plain(CheckIn)),
    lambda: CheckIn.patient_id,
    lambda: CheckIn.local_date,
    lambda: CheckIn.updated_at,
    lambda: CheckIn.id,
    date_is_day=True,
)
SCREENERS = Source(
    "screeners",
    RecordKind.SCREENER,
    lambda: select(plain(ScreenerResponse)),
    lambda: ScreenerResponse.patient_id,
    lambda: ScreenerResponse.completed_at,
    lambda: ScreenerResponse.completed_at,
    lambda: ScreenerResponse.id,
)
RISK_FLAGS = Source(
    "risk_flags",
    RecordKind.RISK,
    lambda: select(RiskFlag),
    lambda: RiskFlag.patient_id,
    lambda: RiskFlag.opened_at,
    _risk_updated,
    lambda: RiskFlag.id,
)
RISK_ASSESSMENTS = Source(
    "risk_assessments",
    RecordKind.RISK,
    lambda: select(RiskFlag).where(RiskFlag.assessed_at.is_not(None)),
    lambda: RiskFlag.patient_id,
    lambda: RiskFlag.assessed_at,
    lambda: func.coalesce(RiskFlag.resolved_at, RiskFlag.assessed_at),
    lambda: RiskFlag.id,
)
RISK_EVENTS = Source(
    "risk_events",
    RecordKind.RISK,
    _risk_events,
    lambda: RiskFlag.patient_id,
    lambda: RiskFlagEvent.at,
    lambda: RiskFlagEvent.at,
    lambda: RiskFlagEvent.id,
)
APPOINTMENTS = Source(
    "appointments",
    RecordKind.APPOINTMENT,
    _appointments,
    lambda: Appointment.patient_id,
    lambda: Appointment.starts_at,
    lambda: Appointment.created_at,
    lambda: Appointment.id,
)
ATTENDANCE = Source(
    "attendance",
    RecordKind.ATTENDANCE,
    _attendance,
    lambda: Attendance.patient_id,
    lambda: Attendance.occurs_on,
    lambda: Attendance.recorded_at,
    lambda: Attendance.id,
    date_is_day=True,
)
CONSENTS = Source(
    "consents",
    None,
    _consents,
    lambda: RecordConsent.patient_id,
    lambda: RecordConsent.given_at,
    lambda: func.coalesce(RecordConsent.revoked_at, RecordConsent.given_at),
    lambda: RecordConsent.id,
)
AUDIT = Source(
    "audit",
    RecordKind.ACCESS,
    _audit,
    lambda: AuditEvent.patient_id,
    lambda: AuditEvent.at,
    lambda: AuditEvent.at,
    lambda: AuditEvent.id,
)


def _needs() -> Select:
    owner = aliased(User, name="need_owner")
    return select(Need, owner.display_name).outerjoin(owner, Need.owner_id == owner.id)


def _need_events() -> Select:
    actor = aliased(User, name="need_actor")
    owner = aliased(User, name="need_event_owner")
    return (
        select(NeedEvent, Need, actor.display_name, owner.display_name)
        .join(Need, NeedEvent.need_id == Need.id)
        .outerjoin(actor, NeedEvent.actor_id == actor.id)
        .outerjoin(owner, NeedEvent.owner_id == owner.id)
    )


def _messages() -> Select:
    author = aliased(User, name="message_author")
    return (
        select(plain(Message), plain(MessageThread), author.role, author.display_name)
        .join(MessageThread, Message.thread_id == MessageThread.id)
        .join(author, Message.author_id == author.id)
    )


NEEDS = Source(
    "needs",
    RecordKind.NEED,
    _needs,
    lambda: Need.patient_id,
    lambda: Need.created_at,
    lambda: Need.updated_at,
    lambda: Need.id,
)
NEED_EVENTS = Source(
    "need_events",
    RecordKind.NEED,
    _need_events,
    lambda: Need.patient_id,
    lambda: NeedEvent.at,
    lambda: NeedEvent.at,
    lambda: NeedEvent.id,
)
MESSAGES = Source(
    "messages",
    RecordKind.MESSAGE,
    _messages,
    lambda: MessageThread.patient_id,
    lambda: Message.created_at,
    lambda: Message.created_at,
    lambda: Message.id,
    patient_of=lambda row: row[1].patient_id,
)

COVERAGES = Source(
    "coverages",
    RecordKind.COVERAGE,
    lambda: select(Coverage),
    lambda: Coverage.patient_id,
    lambda: Coverage.created_at,
    lambda: Coverage.updated_at,
    lambda: Coverage.id,
)
AUTHORIZATIONS = Source(
    "authorizations",
    RecordKind.COVERAGE,
    lambda: select(Authorization, Coverage.payer).join(
        Coverage, Authorization.coverage_id == Coverage.id
    ),
    lambda: Authorization.patient_id,
    lambda: Authorization.starts_on,
    lambda: Authorization.updated_at,
    lambda: Authorization.id,
    date_is_day=True,
)
