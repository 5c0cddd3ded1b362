"""The director's board: help requests, case managers' load and peer support per
week, as statements (see board.py)."""

from __future__ import annotations

from sqlalchemy import (
    and_,
    case,
    distinct,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)

from portal.blueprints.auth.models import User
from portal.blueprints.messages.models import Message, MessageThread, PeerContact
from portal.blueprints.needs.models import (
    OPEN_STATUSES,
    CaseManagerAway,
    HelpAnswer,
    Need,
    TaskStatus,
    Urgency,
)
from portal.blueprints.programs.models import StaffMembership
from portal.blueprints.staff.board_parts import (
    FIRST,
    NOW,
    PROGRAMS,
    START,
    TODAY,
    TOTAL,
    StatementParts,
    materialized,
    quantiles,
)
from portal.reporting import (
    epoch_seconds,
    greatest,
    local_date,
)
from portal.security import Role


class ServiceStatements(StatementParts):
    """Help requests, case managers' load, peer support."""

    # ---- help requests ---------------------------------------------------------------

    def requests(self):
        """Requests asked in the period, per kind and per week (kind ""): asked, first
        contact and on time, done and on time, the median and 90th percentile
        opening hours to each, how many patients answered "Did you get the help?"
        and how many said yes; and per kind the open and overdue now."""
        n, p = Need, self.programs
        done = and_(n.status == TaskStatus.COMPLETED, n.closed_at.is_not(None))
        contact_on_time = and_(
            n.first_contact_at.is_not(None),
            or_(n.contact_due_at.is_(None), n.first_contact_at <= n.contact_due_at),
        )
        done_on_time = and_(
            done, or_(n.resolve_due_at.is_(None), n.closed_at <= n.resolve_due_at)
        )
        # each request's local days and moments, worked out once
        asked = materialized(
            select(
                n.kind,
                n.program_id,
                local_date(n.created_at, p.c.tz).label("asked_on"),
                local_date(n.first_contact_at, p.c.tz).label("contact_on"),
                local_date(case((done, n.closed_at)), p.c.tz).label("done_on"),
                epoch_seconds(n.created_at).label("asked_s"),
                epoch_seconds(n.first_contact_at).label("contact_s"),
                epoch_seconds(case((done, n.closed_at))).label("done_s"),
                case((contact_on_time, 1), else_=0).label("contact_on_time"),
                case((done_on_time, 1), else_=0).label("done_on_time"),
                case((n.help_received.is_not(None), 1), else_=0).label("help_answered"),
                case((n.help_received == HelpAnswer.YES, 1), else_=0).label("got_help"),
            )
            .join(p, p.c.program_id == n.program_id)
            .where(n.program_id.in_(PROGRAMS), n.created_at >= START),
            "asked",
        )
        x, cal = asked.c, self.calendar
        asked_day = cal.alias("asked_day")
        contact_day = cal.alias("contact_day")
        done_day = cal.alias("done_day")
        start = self._open_seconds_at(asked_day, x.asked_s)
        timed = materialized(
            select(
                x.kind,
                self._week_of(x.asked_on).label("week_no"),
                (
                    (self._open_seconds_at(contact_day, x.contact_s) - start) / 3600.0
                ).label("contact_h"),
                x.contact_on_time,
                ((self._open_seconds_at(done_day, x.done_s) - start) / 3600.0).label(
                    "done_h"
                ),
                x.done_on_time,
                x.help_answered,
                x.got_help,
            )
            .select_from(asked)
            .join(asked_day, self._on_day(asked_day, x.program_id, x.asked_on))
            .outerjoin(
                contact_day, self._on_day(contact_day, x.program_id, x.contact_on)
            )
            .outerjoin(done_day, self._on_day(done_day, x.program_id, x.done_on))
            .where(x.asked_on >= FIRST),
            "timed",
        )
        # the week rows first: their "" names the column's type (text, not a kind)
        both = materialized(
            union_all(
                select(literal("").label("kind"), *list(timed.c)[1:]),
                select(
                    timed.c.kind, literal(TOTAL).label("week_no"), *list(timed.c)[2:]
                ),
            ),
            "by_kind_and_week",
        )
        return self._request_rows(both)

    @staticmethod
    def _on_day(day_row, program_id, day):
        return and_(day_row.c.program_id == program_id, day_row.c.day == day)

    def _request_rows(self, both) -> list:
        keys = [both.c.kind, both.c.week_no]
        counts = (
            select(
                *keys,
                func.count().label("asked"),
                func.count(both.c.contact_h).label("contacted"),
                func.sum(both.c.contact_on_time).label("contact_on_time"),
                func.count(both.c.done_h).label("done"),
                func.sum(both.c.done_on_time).label("done_on_time"),
                func.sum(both.c.help_answered).label("help_answered"),
                func.sum(both.c.got_help).label("got_help"),
            )
            .group_by(*keys)
            .subquery()
        )
        contact = quantiles(both, keys, both.c.contact_h)
        finish = quantiles(both, keys, both.c.done_h)
        n = Need
        now = NOW
        open_now = (
            select(
                n.kind,
                func.count().label("open"),
                func.count(case((n.due_at < now, 1))).label("overdue"),
                func.count(case((n.owner_id.is_(None), 1))).label("unassigned"),
            )
            .where(n.program_id.in_(PROGRAMS), n.status.in_(OPEN_STATUSES))
            .group_by(n.kind)
            .subquery()
        )

        def same(other):
            return and_(
                other.c.kind == counts.c.kind, other.c.week_no == counts.c.week_no
            )

        return (
            select(
                counts,
                contact.c.median.label("contact_median"),
                contact.c.p90.label("contact_p90"),
                finish.c.median.label("done_median"),
                finish.c.p90.label("done_p90"),
                func.coalesce(open_now.c.open, 0).label("open_now"),
                func.coalesce(open_now.c.overdue, 0).label("overdue_now"),
                func.coalesce(open_now.c.unassigned, 0).label("unassigned_now"),
            )
            .outerjoin(contact, same(contact))
            .outerjoin(finish, same(finish))
            .outerjoin(
                open_now,
                and_(open_now.c.kind == counts.c.kind, counts.c.week_no == TOTAL),
            )
            .order_by(counts.c.kind, counts.c.week_no)
        )

    def case_manager_load(self):
        """Every case manager of the scope with their open, urgent and overdue
        requests, and until when they are away."""
        n = Need
        now = NOW
        is_open = and_(n.owner_id == User.id, n.status.in_(OPEN_STATUSES))
        return (
            select(
                User.id,
                User.display_name,
                func.count(n.id).label("open"),
                func.count(n.id).filter(n.urgency == Urgency.URGENT).label("urgent"),
                func.count(n.id).filter(n.due_at < now).label("overdue"),
                CaseManagerAway.until,
            )
            .outerjoin(n, is_open)
            .outerjoin(CaseManagerAway, CaseManagerAway.staff_id == User.id)
            .where(
                User.id.in_(
                    select(StaffMembership.user_id).where(
                        StaffMembership.program_id.in_(PROGRAMS)
                    )
                ),
                User.role == Role.CASE_MANAGER,
            )
            .group_by(User.id, User.display_name, CaseManagerAway.until)
            .order_by(func.count(n.id).desc(), User.display_name)
        )

    # ---- peer support ----------------------------------------------------------------

    def peer_support(self):
        """Per week: peer-support contacts, their minutes and H0038 units (15 minutes,
        a unit from 8), and patients' messages answered by staff within one opening
        day (the program's longest) of opening time."""
        w, s = self.weeks, self.stays
        pc = PeerContact
        dated = (
            select(
                self._week_of(pc.contact_on).label("week_no"),
                pc.minutes,
                ((pc.minutes + 7) // 15).label("units"),
            )
            .select_from(pc)
            .join(
                s,
                and_(
                    s.c.patient_id == pc.patient_id,
                    pc.contact_on.between(s.c.admitted_on, s.c.ends_on),
                ),
            )
            .where(
                # the semi-join first: PostgreSQL then hashes the stays, not the
                # year's contacts of every program
                pc.patient_id.in_(select(s.c.patient_id)),
                pc.contact_on.between(FIRST, TODAY),
            )
            .subquery()
        )
        contacts = (
            select(
                dated.c.week_no,
                func.count().label("n"),
                func.sum(dated.c.minutes).label("minutes"),
                func.sum(dated.c.units).label("units"),
            )
            .group_by(dated.c.week_no)
            .subquery()
        )
        answers = self._answers()
        return (
            select(
                w.c.week_no,
                func.coalesce(contacts.c.n, 0).label("contacts"),
                func.coalesce(contacts.c.minutes, 0).label("minutes"),
                func.coalesce(contacts.c.units, 0).label("units"),
                func.coalesce(answers.c.due, 0).label("messages"),
                func.coalesce(answers.c.in_time, 0).label("answered"),
                func.coalesce(answers.c.patients, 0).label("writers"),
            )
            .outerjoin(contacts, contacts.c.week_no == w.c.week_no)
            .outerjoin(answers, answers.c.week_no == w.c.week_no)
            .order_by(w.c.week_no)
        )

    def _answers(self):
        """Per week, patients' messages whose day of opening time has passed (or that
        were answered), and those answered within it."""
        m, t, s = Message, MessageThread, self.stays
        reply = (
            func.min(case((m.author_id != t.patient_id, m.created_at)))
            .over(partition_by=m.thread_id, order_by=m.seq, rows=(1, None))
            .label("reply_at")
        )
        threads = materialized(
            select(
                t.patient_id,
                m.created_at,
                (m.author_id == t.patient_id).label("from_patient"),
                reply,
            )
            .join(t, t.id == m.thread_id)
            .where(
                t.patient_id.in_(select(s.c.patient_id)),
                m.created_at >= START,
            ),
            "thread_messages",
        )
        x = threads.c
        sent_on = local_date(x.created_at, s.c.tz)
        asks = materialized(
            select(
                x.patient_id,
                s.c.program_id,
                sent_on.label("sent_on"),
                local_date(x.reply_at, s.c.tz).label("reply_on"),
                epoch_seconds(x.created_at).label("sent_s"),
                epoch_seconds(x.reply_at).label("reply_s"),
                s.c.day_s,
                s.c.open_now_s,
            )
            .select_from(threads)
            .join(s, s.c.patient_id == x.patient_id)
            .where(
                x.from_patient.is_(true()),
                sent_on.between(greatest(s.c.admitted_on, FIRST), s.c.ends_on),
            ),
            "asks",
        )
        y, cal = asks.c, self.calendar
        sent_day, reply_day = cal.alias("sent_day"), cal.alias("reply_day")
        sent = self._open_seconds_at(sent_day, y.sent_s)
        waited = self._open_seconds_at(reply_day, y.reply_s) - sent
        marked = (
            select(
                y.patient_id,
                self._week_of(y.sent_on).label("week_no"),
                case(
                    (and_(y.reply_s.is_not(None), waited <= y.day_s), 1), else_=0
                ).label("in_time"),
                case(
                    (or_(y.reply_s.is_not(None), y.open_now_s - sent > y.day_s), 1),
                    else_=0,
                ).label("due"),
            )
            .select_from(asks)
            .join(sent_day, self._on_day(sent_day, y.program_id, y.sent_on))
            .outerjoin(reply_day, self._on_day(reply_day, y.program_id, y.reply_on))
            .subquery()
        )
        return (
            select(
                marked.c.week_no,
                func.sum(marked.c.due).label("due"),
                func.sum(marked.c.in_time).label("in_time"),
                func.count(distinct(marked.c.patient_id)).label("patients"),
            )
            .group_by(marked.c.week_no)
            .subquery()
        )
