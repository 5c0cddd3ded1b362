"""What a notification about a request says in the list: "About your ride request of
Tue 3 Dec" (for staff, whose request)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask_babel import gettext
from sqlalchemy import select

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.needs.forms import OTHER_LABELS
from portal.blueprints.needs.models import Need, NeedKind
from portal.blueprints.notifications.about import describes
from portal.blueprints.programs.access import staff_program_ids
from portal.blueprints.programs.models import Program
from portal.i18n import when
from portal.text import local_day_label


def request_words(kind: NeedKind, other_need) -> str:
    if kind is NeedKind.TRANSPORT:
        return "ride request"
    if kind is NeedKind.HOUSING:
        return "housing request"
    return f"request for help with {str(OTHER_LABELS[other_need]).lower()}"


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
    if reader.is_staff:  # staff read English
        return {
            row.id: (
                f"About {row.display_name}'s "
                f"{request_words(row.kind, row.other_need)} of "
                f"{local_day_label(row.created_at, row.timezone)}"
            )
            for row in rows
        }
    return {row.id: _patient_words(row) for row in rows}


def _patient_words(row) -> str:
    """The patient's own words, in their page's language: "About your ride request
    of Tue 3 Dec"."""
    day = when(row.created_at.astimezone(ZoneInfo(row.timezone)), "day_label")
    if row.kind is NeedKind.TRANSPORT:
        return gettext("About your ride request of %(day)s", day=day)
    if row.kind is NeedKind.HOUSING:
        return gettext("About your housing request of %(day)s", day=day)
    return gettext(
        "About your request for help with %(need)s of %(day)s",
        need=str(OTHER_LABELS[row.other_need]).lower(),
        day=day,
    )
