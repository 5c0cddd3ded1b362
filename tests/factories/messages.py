"""Helpers for the messaging tests: a thread with messages, read as a person would."""

from __future__ import annotations

from sqlalchemy import select

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.messages import services
from portal.blueprints.messages.models import Message, MessageThread

MESSAGE_MARKER = "MESSAGE-TEXT-7781"


def thread_id_for(patient: User, author: User, text: str = MESSAGE_MARKER) -> str:
    """The patient's thread with one message from `author`, made once."""
    thread = services.open_thread(patient.id)
    if thread.last_seq == 0:
        add_message(thread, author, text)
    return thread.id


def add_message(thread: MessageThread, author: User, text: str) -> Message:
    """A message written straight into the database (no notifications, no audit)."""
    thread.last_seq += 1
    message = Message(
        thread_id=thread.id, seq=thread.last_seq, author_id=author.id, body=text
    )
    thread.last_message_at = message.created_at = services.utcnow()
    if author.id == thread.patient_id and thread.waiting_since is None:
        thread.waiting_since = thread.last_message_at
    db.session.add(message)
    db.session.flush()
    services.mark_read(author, thread, message.seq)
    return message


def bodies(thread_id: str) -> list[str]:
    return list(
        db.session.scalars(
            select(Message.body)
            .where(Message.thread_id == thread_id)
            .order_by(Message.seq)
        )
    )
