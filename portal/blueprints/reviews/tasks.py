"""Tell the patient's prescriber and the program's directors, once per
authorization and warning, when days run low, a review is near, or a patient
attends with no authorization. The in-app words are the kind's ("An authorization
needs review"); nothing about the patient leaves in a push."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select

from portal import db
from portal.blueprints.notifications.models import NotificationKind
from portal.blueprints.notifications.reminders import claim_run
from portal.blueprints.notifications.services import notify
from portal.blueprints.programs.access import program_director_ids
from portal.blueprints.programs.models import CareTeamAssignment, Program, TeamRole
from portal.blueprints.reviews.worklist import (
    DAYS_LEFT_WARNING,
    build_worklist,
)
from portal.db import utcnow
from portal.worker import task


def _recipients(patient_ids: set[str], directors: list[str]) -> dict[str, list[str]]:
    """Patient id -> their prescriber (if any) and the directors: one statement."""
    found = {patient_id: list(directors) for patient_id in patient_ids}
    if not patient_ids:
        return found
    for patient_id, staff_id in db.session.execute(
        select(CareTeamAssignment.patient_id, CareTeamAssignment.staff_id).where(
            CareTeamAssignment.patient_id.in_(patient_ids),
            CareTeamAssignment.team_role == TeamRole.PRESCRIBER,
        )
    ):
        if staff_id not in found[patient_id]:
            found[patient_id].insert(0, staff_id)
    return found


def warn_program(program: Program, day: date) -> int:
    """Make the program's review notifications for one day; returns how many."""
    work = build_worklist(program, day)
    keyed: list[tuple[str, str, str]] = []  # (patient id, dedupe key, target)
    for row in work.rows:
        auth = row.authorization
        target = f"/reviews/authorizations/{auth.id}/packet"
        if row.left <= DAYS_LEFT_WARNING:
            keyed.append((auth.patient_id, f"rv:{auth.id}:left", target))
        if any(word.startswith("Review") for word in row.warnings):
            keyed.append(
                (auth.patient_id, f"rv:{auth.id}:{auth.next_review_on}", target)
            )
    week = day.isocalendar()
    for gap in work.gaps:
        key = f"rv:{gap.patient_id}:none:{week.year}-{week.week}"
        keyed.append((gap.patient_id, key, "/reviews"))
    recipients = _recipients(
        {patient for patient, _, _ in keyed}, program_director_ids(program.id)
    )
    made = 0
    for patient_id, key, target in keyed:
        for staff_id in recipients[patient_id]:
            made += (
                notify(
                    staff_id,
                    NotificationKind.AUTHORIZATION_REVIEW,
                    patient_id=patient_id,
                    target=target,
                    dedupe_key=f"{key}:{staff_id}",
                )
                is not None
            )
    return made


@task("authorization_warnings")
def authorization_warnings(_app: Flask) -> int:
    """Once an hour per program (whichever worker claims it first)."""
    now = utcnow()
    made = 0
    for program in db.session.scalars(select(Program)):
        if not claim_run(f"reviews:{program.id}:{now:%Y-%m-%dT%H}"):
            continue
        made += warn_program(program, now.astimezone(ZoneInfo(program.timezone)).date())
    db.session.commit()
    return made
