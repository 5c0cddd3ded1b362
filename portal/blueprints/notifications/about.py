"""What a notification in the list is about ("About your ride request of Tue 3 Dec"),
in words for the person who reads it. The objects live with the features above
notifications (requests, conversations, appointments); each registers a describer for
its table here when the app is made, so the list names them without importing a layer
above its own. Pushes never use these words: they stay generic (push.build_payload).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from portal.blueprints.auth.models import User
from portal.blueprints.notifications.models import Notification

# (the reader, the ids of one table's subjects) -> {subject id: words}; a describer
# sends one statement, and leaves out the subjects the reader may not see.
Describer = Callable[[User, list[str]], dict[str, str]]
_DESCRIBERS: dict[str, Describer] = {}


def describes(subject_type: str) -> Callable[[Describer], Describer]:
    """Register the describer of one subject table (its `__tablename__`)."""

    def register(describer: Describer) -> Describer:
        _DESCRIBERS[subject_type] = describer
        return describer

    return register


def describe_notifications(reader: User, notes: Iterable[Notification]) -> dict:
    """{notification id: words} for the notes whose subject a describer knows and the
    reader may see: one statement per subject table on the page, whatever its length."""
    wanted: dict[str, set[str]] = {}
    for note in notes:
        if note.subject_type in _DESCRIBERS and note.subject_id:
            wanted.setdefault(note.subject_type, set()).add(note.subject_id)
    words = {
        (table, subject_id): text
        for table, ids in wanted.items()
        for subject_id, text in _DESCRIBERS[table](reader, sorted(ids)).items()
    }
    return {
        note.id: words[(note.subject_type, note.subject_id)]
        for note in notes
        if (note.subject_type, note.subject_id) in words
    }
