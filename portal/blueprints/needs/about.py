"""What a notification about a request says in the list: "About your ride request of
Tue 3 Dec" (for staff, whose request)."""

from __future__ import annotations

from sqlalchemy import select

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.needs.forms import OTHER_LABELS
from portal.blueprints.needs.models import Need, NeedKind
from portal.blueprints.notifications.about import describes
from portal.blueprints.programs.access import staff_program_ids
from portal.blueprints.programs.models import Program
from portal.text import local_day_label


def request_words(kind: NeedKind, other_need) -> str:
    if kind is NeedKind.TRANSPORT:
        return "ride request"
    if kind is NeedKind.HOUSING:
        return "housing request"
    return f"request for help with {OTHER_LABELS[other_need].lower()}"


@describes(Need.__tablename__)
def describe_needs(reader: User, need_ids: list[str]) -> dict[str, str]:
    """One statement: the reader's own requests, or for staff their programs'."""
    scope = (
        Need.program_id.in_(staff_program_ids(reader))
        if reader.is_staff
        else Need.patient_id == reader.id
    )
    rows = db.session.execute(
        select(
            Need.id,
            Need.kind,
            Need.other_need,
            Need.created_at,
            Program.timezone,
            User.display_name,
        )
        .join(Program, Program.id == Need.program_id)
        .join(User, User.id == Need.patient_id)
        .where(Need.id.in_(need_ids), scope)
    ).all()
    return {
        row.id: (
            f"About {_whose(reader, row.display_name)} "
            f"{request_words(row.kind, row.other_need)} of "
            f"{local_day_label(row.created_at, row.timezone)}"
        )
        for row in rows
    }


def _whose(reader: User, patient_name: str) -> str:
    return f"{patient_name}'s" if reader.is_staff else "your"
