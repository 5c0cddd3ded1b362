"""The program's response-time targets and a request's deadlines from them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from portal import db
from portal.audit import audit
from portal.blueprints.needs.models import (
    Need,
    NeedKind,
    NeedSlaRule,
    TaskStatus,
    Urgency,
)
from portal.blueprints.needs.sla import DEFAULT_RULES, Clock, Rule, deadlines
from portal.blueprints.programs.models import Program


def clock_of(program: Program) -> Clock:
    return Clock(program.opening_hours or {}, program.timezone)


def sla_rules(program_id: str) -> dict[tuple[NeedKind, Urgency], Rule]:
    """The program's rules, with the defaults where it has set none."""
    rules = {key: Rule(*value) for key, value in DEFAULT_RULES.items()}
    for row in db.session.scalars(
        select(NeedSlaRule).where(NeedSlaRule.program_id == program_id)
    ):
        rules[(row.kind, row.urgency)] = Rule(row.contact_hours, row.resolve_hours)
    return rules


def sla_rule(program_id: str, kind: NeedKind, urgency: Urgency) -> Rule:
    row = db.session.get(NeedSlaRule, (program_id, kind, urgency))
    if row is None:
        return Rule(*DEFAULT_RULES[(kind, urgency)])
    return Rule(row.contact_hours, row.resolve_hours)


def save_sla_rules(
    program: Program, rules: dict[tuple[NeedKind, Urgency], Rule]
) -> None:
    """Set the program's rules (for requests made from now on)."""
    for (kind, urgency), rule in rules.items():
        row = db.session.get(NeedSlaRule, (program.id, kind, urgency))
        if row is None:
            row = NeedSlaRule(program_id=program.id, kind=kind, urgency=urgency)
            db.session.add(row)
        row.contact_hours, row.resolve_hours = rule.contact_hours, rule.resolve_hours
    db.session.flush()
    audit("update", "need_sla_rules", object_id=program.id)


def schedule_deadlines(need: Need, clock: Clock, start: datetime, rule: Rule) -> None:
    """Set the deadlines from `start` and the next one due."""
    due = deadlines(clock, rule, need.kind, start, need.ride_at)
    need.contact_due_at, need.resolve_due_at = due.contact_due, due.resolve_due
    set_next_due(need)


def set_next_due(need: Need) -> None:
    """The deadline the queue sorts on: first contact until it happens, then the
    resolution; none while on hold or once closed (the clock stops)."""
    if not need.is_open or need.status is TaskStatus.ON_HOLD:
        need.due_at = None
    elif need.first_contact_at is None:
        candidates = [d for d in (need.contact_due_at, need.resolve_due_at) if d]
        need.due_at = min(candidates) if candidates else None
    else:
        need.due_at = need.resolve_due_at
