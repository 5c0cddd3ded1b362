"""What a notification about a conversation says in the list: for the patient, their
conversation with the care team; for staff, whose conversation it is."""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy import select

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.messages.access import params, shares_program
from portal.blueprints.messages.models import MessageThread
from portal.blueprints.notifications.about import describes


@describes(MessageThread.__tablename__)
def describe_threads(reader: User, thread_ids: list[str]) -> dict[str, str]:
    """One statement: the patient's own thread, or for staff the threads of patients
    in their programs."""
    if not reader.is_staff:
        own = db.session.scalars(
            select(MessageThread.id).where(
                MessageThread.id.in_(thread_ids),
                MessageThread.patient_id == reader.id,
            )
        )
        about = gettext("About your conversation with your care team")
        return {thread_id: about for thread_id in own}
    rows = db.session.execute(
        select(MessageThread.id, User.display_name)
        .join(User, User.id == MessageThread.patient_id)
        .where(MessageThread.id.in_(thread_ids), shares_program()),
        params(reader),
    ).all()
    return {row.id: f"About the conversation with {row.display_name}" for row in rows}
