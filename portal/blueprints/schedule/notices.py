"""A patient tells the program "I'll be late" or "I can't come today" for a group
session of today, with a reason; the roster, the attendance marks and the huddle read
it.

"I can't come today" covers the session chosen and every later one of that day that
is not over, and marks each of them excused (unless staff marked it already). "I'll
be late" covers the session chosen; the roster offers "late" for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.programs.context import PatientContext
from portal.blueprints.programs.models import Track
from portal.blueprints.schedule.models import (
    Attendance,
    AttendanceStatus,
    GroupSession,
    NoticeKind,
    NoticeReason,
    SessionNotice,
)
from portal.db import is_id, utcnow

# Lazy: the patient's page reads them in the patient's language, the roster and the
# huddle (staff pages) in English.
KIND_WORDS = {
    NoticeKind.LATE: _l("I'll be late"),
    NoticeKind.ABSENT: _l("I can't come today"),
}
REASON_WORDS = {
    NoticeReason.SICK: _l("I am sick"),
    NoticeReason.RIDE: _l("No ride, or the ride is late"),
    NoticeReason.FAMILY: _l("Family or childcare"),
    NoticeReason.WORK: _l("Work"),
    NoticeReason.OTHER_APPOINTMENT: _l("Another appointment"),
    NoticeReason.OTHER: _l("Something else"),
}
# What the roster suggests for a patient who told the program, until staff mark them.
SUGGESTED_MARK = {
    NoticeKind.LATE: AttendanceStatus.LATE,
    NoticeKind.ABSENT: AttendanceStatus.EXCUSED,
}


class NoticeRefused(ValueError):
    """The notice cannot be taken as asked; the message says why in plain words."""


def notice_words(notice: SessionNotice) -> str:
    """ "I'll be late: No ride, or the ride is late. (their words)" """
    words = f"{KIND_WORDS[notice.kind]}: {REASON_WORDS[notice.reason]}"
    return f"{words}. {notice.note}" if notice.note else words


def todays_session(ctx: PatientContext, session_id: str) -> GroupSession | None:
    """A group session of the patient's track that meets today (program time), or
    None: another track's, another day's, or an unknown id."""
    if not is_id(session_id) or not ctx.enrollment.track_id:
        return None
    today = utcnow().astimezone(ctx.tz).date()
    return db.session.scalar(
        select(GroupSession).where(
            GroupSession.id == session_id,
            GroupSession.track_id == ctx.enrollment.track_id,
            GroupSession.weekday == today.weekday(),
            GroupSession.active.is_(True),
        )
    )


def session_over(ctx: PatientContext, session: GroupSession, now: datetime) -> bool:
    local = now.astimezone(ctx.tz)
    return local.time() >= session.ends_at


def patient_notices(patient_id: str, day: date) -> dict[str, SessionNotice]:
    """The patient's notices of a day, by session id."""
    rows = db.session.scalars(
        select(SessionNotice).where(
            SessionNotice.patient_id == patient_id, SessionNotice.occurs_on == day
        )
    )
    return {row.group_session_id: row for row in rows}


def refusal(
    patient_id: str, ctx: PatientContext, session: GroupSession, now: datetime
) -> str | None:
    """Why the patient cannot tell us about this session now, in plain words (it is
    over, or they told us already); None when they can."""
    if session_over(ctx, session, now):
        return gettext(
            "This session is already over, so there is nothing to tell. If you "
            "missed it, talk to your team at your next session."
        )
    today = now.astimezone(ctx.tz).date()
    told = patient_notices(patient_id, today).get(session.id)
    if told is not None:
        return gettext(
            "You already told us about this session: %(words)s",
            words=notice_words(told),
        )
    return None


@dataclass
class NoticeData:
    kind: NoticeKind
    reason: NoticeReason
    note: str | None


def tell_program(
    patient: User, ctx: PatientContext, session: GroupSession, data: NoticeData
) -> list[SessionNotice]:
    """Record the notice for today's session (and, for "I can't come today", the
    later sessions of the day that are not over); mark those excused. A session
    already over, or one told already, is refused with nothing saved."""
    now = utcnow()
    problem = refusal(patient.id, ctx, session, now)
    if problem:
        raise NoticeRefused(problem)
    today = now.astimezone(ctx.tz).date()
    told = patient_notices(patient.id, today)
    covered = [session]
    if data.kind is NoticeKind.ABSENT:
        covered += _later_sessions(ctx, session, now, skip=set(told))
    made = [_notice(patient, s, today, data) for s in covered]
    if data.kind is NoticeKind.ABSENT:
        _mark_excused(patient, [s.id for s in covered], today)
    db.session.flush()
    return made


def _notice(patient, session, day, data: NoticeData) -> SessionNotice:
    notice = SessionNotice(
        patient_id=patient.id,
        group_session_id=session.id,
        occurs_on=day,
        kind=data.kind,
        reason=data.reason,
        note=data.note,
    )
    db.session.add(notice)
    audit(
        "create",
        "session_notice",
        patient_id=patient.id,
        object_id=session.id,
        detail=data.kind.value,
    )
    return notice


def _later_sessions(ctx, session, now, skip: set[str]) -> list[GroupSession]:
    later = db.session.scalars(
        select(GroupSession).where(
            GroupSession.track_id == session.track_id,
            GroupSession.weekday == session.weekday,
            GroupSession.active.is_(True),
            GroupSession.starts_at > session.starts_at,
        )
    )
    return [s for s in later if s.id not in skip and not session_over(ctx, s, now)]


def _mark_excused(patient: User, session_ids: list[str], day: date) -> None:
    """Excused for each session that has no mark yet; a mark staff made stays."""
    marked = set(
        db.session.scalars(
            select(Attendance.group_session_id).where(
                Attendance.patient_id == patient.id,
                Attendance.occurs_on == day,
                Attendance.group_session_id.in_(session_ids),
            )
        )
    )
    for session_id in session_ids:
        if session_id in marked:
            continue
        db.session.add(
            Attendance(
                patient_id=patient.id,
                group_session_id=session_id,
                occurs_on=day,
                status=AttendanceStatus.EXCUSED,
                recorded_by_id=patient.id,
            )
        )
        audit(
            "write",
            "attendance",
            patient_id=patient.id,
            object_id=session_id,
            detail="excused: the patient said they cannot come",
        )


def session_notices(session_id: str, day: date) -> dict[str, SessionNotice]:
    """A session's notices on a day, by patient id (the roster)."""
    rows = db.session.scalars(
        select(SessionNotice).where(
            SessionNotice.group_session_id == session_id,
            SessionNotice.occurs_on == day,
        )
    )
    return {row.patient_id: row for row in rows}


def notices_for_program(program_id: str, day: date) -> dict[str, list[str]]:
    """Every notice of a program's patients for a day, in words, by patient id: one
    statement, for the huddle, without the patient's own words. The notices of one
    kind and reason make one line: "I'll be late: No ride, or the ride is late
    (Coping skills 9:00 AM)", or for a whole day away "I can't come today: I am sick
    (4 groups from 9:00 AM)". Not audited here: the page that shows it audits its
    patients."""
    rows = db.session.execute(
        select(SessionNotice, GroupSession.title, GroupSession.starts_at)
        .join(GroupSession, GroupSession.id == SessionNotice.group_session_id)
        .join(Track, Track.id == GroupSession.track_id)
        .where(Track.program_id == program_id, SessionNotice.occurs_on == day)
        .order_by(SessionNotice.patient_id, GroupSession.starts_at)
    ).all()
    # the kind and the reason from the list, not the patient's own words: the whole
    # team reads the huddle (the roster shows their words to the group's facilitator)
    told: dict[str, dict[str, list[tuple[str, time]]]] = {}
    for notice, title, starts_at in rows:
        words = f"{KIND_WORDS[notice.kind]}: {REASON_WORDS[notice.reason]}"
        told.setdefault(notice.patient_id, {}).setdefault(words, []).append(
            (title, starts_at)
        )
    return {
        patient_id: [_told_line(words, groups) for words, groups in kinds.items()]
        for patient_id, kinds in told.items()
    }


def _told_line(words: str, groups: list[tuple[str, time]]) -> str:
    title, starts_at = groups[0]
    if len(groups) == 1:
        return f"{words} ({title} {starts_at:%-I:%M %p})"
    return f"{words} ({len(groups)} groups from {starts_at:%-I:%M %p})"
