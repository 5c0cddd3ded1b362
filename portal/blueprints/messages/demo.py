"""Demo conversations: the peer specialist's inbox with one patient waiting, one
answered, a logged contact, and a second peer of the program who can cover."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from portal.blueprints.auth.models import User
from portal.blueprints.messages.models import (
    ContactKind,
    Message,
    MessageThread,
    PeerContact,
    ThreadRead,
)
from portal.blueprints.programs.models import Program, StaffMembership
from portal.db import new_id, utcnow
from portal.security import Role

SECOND_PEER = ("peer2@demo.test", "Nia Okafor")

# (patient email, [(minutes ago, "patient" or "peer", text)], read by the patient?)
CONVERSATIONS = [
    (
        "patient@demo.test",
        [
            (
                26 * 60,
                "peer",
                "Hi Jordan, I'm Alex, your peer specialist. You can write "
                "to me here between groups. I answer during program hours.",
            ),
            (
                25 * 60,
                "patient",
                "Thanks. Mornings are hard. Getting out the door is the worst part.",
            ),
            (
                24 * 60,
                "peer",
                "Mornings were hard for me too. Want to make a small "
                "plan for tomorrow at check-in group? This helped me: "
                "https://988lifeline.org/help-yourself/",
            ),
        ],
        True,
    ),
    (
        "patient2@demo.test",
        [
            (5 * 60, "peer", "Hi Casey, checking in after yesterday's group."),
            (
                3 * 60,
                "patient",
                "Can we talk about the ride to group? I missed the bus again.",
            ),
        ],
        True,
    ),
    (
        "patient3@demo.test",
        [
            (2 * 24 * 60, "patient", "Is there a group on Friday?"),
            (2 * 24 * 60 - 30, "peer", "Yes, 9:00 in Room 101. See you there."),
        ],
        False,
    ),
]


def create_demo_messages(
    session: Session, program: Program, users: dict, patients: list[User]
) -> None:
    """Add the second peer and the demo conversations (called by create_demo)."""
    peer = users["peer@demo.test"]
    email, name = SECOND_PEER
    second = User(
        id=new_id(),
        email=email,
        display_name=name,
        role=Role.PEER,
        password_hash=peer.password_hash,
        totp_secret=peer.totp_secret,
        totp_enabled=True,
    )
    session.add(second)
    session.flush()
    session.add(StaffMembership(user_id=second.id, program_id=program.id))
    by_email = {p.email: p for p in patients}
    now = utcnow()
    for patient_email, lines, patient_read in CONVERSATIONS:
        patient = by_email[patient_email]
        _conversation(session, patient, peer, lines, patient_read, now)
    session.add(
        PeerContact(
            patient_id=by_email["patient@demo.test"].id,
            peer_id=peer.id,
            contact_on=(now - timedelta(days=1)).date(),
            minutes=20,
            kind=ContactKind.MESSAGE,
            note="Planned a morning routine.",
        )
    )


def _conversation(session, patient, peer, lines, patient_read, now) -> None:
    thread = MessageThread(id=new_id(), patient_id=patient.id, last_seq=len(lines))
    session.add(thread)
    session.flush()
    waiting_since = None
    for seq, (minutes_ago, who, text) in enumerate(lines, start=1):
        at = now - timedelta(minutes=minutes_ago)
        author = patient if who == "patient" else peer
        session.add(
            Message(
                thread_id=thread.id,
                seq=seq,
                author_id=author.id,
                body=text,
                created_at=at,
            )
        )
        waiting_since = (waiting_since or at) if who == "patient" else None
    thread.last_message_at = now - timedelta(minutes=lines[-1][0])
    thread.waiting_since = waiting_since
    last_by = {"patient": 0, "peer": 0}
    for seq, (_m, who, _t) in enumerate(lines, start=1):
        last_by[who] = seq
    peer_read = len(lines) if lines[-1][1] == "peer" else last_by["peer"]
    patient_seen = len(lines) if patient_read else last_by["patient"]
    session.add(
        ThreadRead(thread_id=thread.id, user_id=peer.id, last_read_seq=peer_read)
    )
    session.add(
        ThreadRead(thread_id=thread.id, user_id=patient.id, last_read_seq=patient_seen)
    )
