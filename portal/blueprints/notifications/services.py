"""Notify people, list and open notifications, devices and preferences.

`notify` is the one way any feature tells someone something. It writes the
notification and its push deliveries (the outbox) into the caller's transaction; the
worker sends them after the commit. Nothing here sends anything.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, or_, select, update

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.notifications.kinds import KINDS, kinds_for
from portal.blueprints.notifications.models import (
    Notification,
    NotificationKind,
    NotificationPreference,
    PushDelivery,
    PushSubscription,
)
from portal.blueprints.notifications.push import (
    PushSettings,
    device_label,
    parse_subscription,
)
from portal.blueprints.programs.models import (
    Enrollment,
    EnrollmentStatus,
    Program,
    StaffMembership,
)
from portal.db import is_id, new_id, utcnow
from portal.logs import current_request_id
from portal.security import Role

log = logging.getLogger("portal.notifications")

CHUNK = 500  # rows per statement: well under SQLite's bound-parameter limit
LIST_LENGTH = 50
COUNT_CAP = 100  # the bell shows "99+" beyond this; counting further is wasted work


def notify(
    recipient: User | str,
    kind: NotificationKind,
    subject=None,
    *,
    patient_id: str | None = None,
    target: str | None = None,
    dedupe_key: str | None = None,
    expires_at: datetime | None = None,
) -> str | None:
    """Tell one person about an event, in the event's own transaction.

    `subject` is the object the event is about (a thread, a request, a risk flag);
    `target` is the page to open (a path, kept on the server). With `dedupe_key`,
    a second call with the same key does nothing and returns None.
    """
    recipient_id = recipient if isinstance(recipient, str) else recipient.id
    if patient_id is None:
        patient_id = getattr(subject, "patient_id", None)
    if patient_id is None and getattr(recipient, "role", None) is Role.PATIENT:
        patient_id = recipient_id
    row = {
        "id": new_id(),
        "recipient_id": recipient_id,
        "kind": kind,
        "patient_id": patient_id,
        "subject_type": getattr(subject, "__tablename__", None),
        "subject_id": getattr(subject, "id", None),
        "target": safe_target(target),
        "dedupe_key": dedupe_key,
        "expires_at": expires_at,
    }
    made = insert_notifications([row])
    if not made:
        return None
    queue_pushes(made)
    if patient_id:
        audit("create", "notification", patient_id=patient_id, object_id=row["id"])
    return row["id"]


def notify_many(
    recipient_ids: Iterable[str],
    kind: NotificationKind,
    *,
    target: str | None = None,
    expires_at: datetime | None = None,
    dedupe_prefix: str | None = None,
) -> int:
    """The same notification to many people at once (news, reminders); returns how
    many were made. With `dedupe_prefix`, each person gets it once per prefix."""
    rows = [
        {
            "id": new_id(),
            "recipient_id": recipient_id,
            "kind": kind,
            "target": safe_target(target),
            "dedupe_key": f"{dedupe_prefix}:{recipient_id}" if dedupe_prefix else None,
            "expires_at": expires_at,
        }
        for recipient_id in dict.fromkeys(recipient_ids)
    ]
    made = insert_notifications(rows)
    queue_pushes(made)
    return len(made)


def announce(program_id: str) -> int:
    """Tell every active patient of a program that there is news in the app."""
    patients = db.session.scalars(
        select(Enrollment.patient_id).where(
            Enrollment.program_id == program_id,
            Enrollment.status == EnrollmentStatus.ACTIVE,
        )
    ).all()
    made = notify_many(patients, NotificationKind.ANNOUNCEMENT)
    audit("create", "announcement", object_id=program_id, detail=f"{made} people")
    return made


def safe_target(target: str | None) -> str:
    """Only a path on this site: a link never sends anyone to another host."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target[:300]


def insert_notifications(rows: list[dict]) -> list[dict]:
    """Insert the rows, skipping any whose dedupe key exists; returns those inserted."""
    made: list[dict] = []
    by_id = {row["id"]: row for row in rows}
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        if any(row.get("dedupe_key") for row in chunk):
            ids = db.session.scalars(
                insert_ignoring_duplicates(Notification, "dedupe_key").returning(
                    Notification.id
                ),
                chunk,
            ).all()
            made += [by_id[i] for i in ids]
        else:
            db.session.execute(insert(Notification), chunk)
            made += chunk
    return made


def insert_ignoring_duplicates(model, column: str):
    return db.upsert(model).on_conflict_do_nothing(index_elements=[column])


def queue_pushes(notifications: Sequence[dict]) -> int:
    """Write one pending delivery per (notification, device) the person wants pushed;
    quiet hours hold a delivery until they end."""
    recipients = {n["recipient_id"] for n in notifications}
    devices = _devices_of(recipients)
    if not devices:
        return 0
    preferences = _preferences_of(set(devices))
    now = utcnow()
    request_id = current_request_id()
    rows = []
    for note in notifications:
        due = _push_due(note, preferences.get(note["recipient_id"]), now)
        if due is None:
            continue
        rows += [
            {
                "id": new_id(),
                "notification_id": note["id"],
                "subscription_id": device_id,
                "next_attempt_at": due,
                "created_at": now,
                "request_id": request_id,
            }
            for device_id in devices.get(note["recipient_id"], ())
        ]
    for start in range(0, len(rows), CHUNK):
        db.session.execute(insert(PushDelivery), rows[start : start + CHUNK])
    if rows:
        # Made in the request, so the line carries its request id: the worker's lines
        # name the same notification, which ties a push to the request that made it.
        log.info(
            "queued %s push deliveries for notification %s%s",
            len(rows),
            rows[0]["notification_id"],
            f" and {len(notifications) - 1} more" if len(notifications) > 1 else "",
        )
    return len(rows)


def _devices_of(user_ids: set[str]) -> dict[str, list[str]]:
    devices: dict[str, list[str]] = defaultdict(list)
    ids = sorted(user_ids)
    for start in range(0, len(ids), CHUNK):
        for device_id, user_id in db.session.execute(
            select(PushSubscription.id, PushSubscription.user_id)
            .join(User, User.id == PushSubscription.user_id)
            .where(
                PushSubscription.user_id.in_(ids[start : start + CHUNK]),
                User.is_active.is_(True),  # a closed account's phones get nothing
            )
        ):
            devices[user_id].append(device_id)
    return devices


def _preferences_of(user_ids: set[str]) -> dict[str, NotificationPreference]:
    found = {}
    ids = sorted(user_ids)
    for start in range(0, len(ids), CHUNK):
        for pref in db.session.scalars(
            select(NotificationPreference).where(
                NotificationPreference.user_id.in_(ids[start : start + CHUNK])
            )
        ):
            found[pref.user_id] = pref
    return found


def _push_due(
    note: dict, pref: NotificationPreference | None, now: datetime
) -> datetime | None:
    """When to push this notification, or None when it should not be pushed."""
    info = KINDS[NotificationKind(note["kind"])]
    if info.always_on:
        return now
    if pref is not None and note["kind"] in (pref.push_off or []):
        return None
    due = quiet_until(pref, now) or now
    expires = note.get("expires_at")
    if expires is not None and due >= expires:
        return None
    return due


def quiet_until(pref: NotificationPreference | None, now: datetime) -> datetime | None:
    """The end of the person's quiet hours when `now` falls inside them, else None."""
    if pref is None or pref.quiet_start is None or pref.quiet_end is None:
        return None
    start, end = pref.quiet_start, pref.quiet_end
    if start == end:
        return None
    tz = ZoneInfo(pref.timezone or "UTC")
    local = now.astimezone(tz)
    moment = local.time().replace(tzinfo=None)
    if start < end:
        inside, days_ahead = start <= moment < end, 0
    else:  # overnight, e.g. 21:00 to 07:00
        inside, days_ahead = moment >= start or moment < end, int(moment >= start)
    if not inside:
        return None
    day = local.date().toordinal() + days_ahead
    ends = datetime.combine(datetime.fromordinal(day).date(), end, tz)
    return ends.astimezone(now.tzinfo)


# ---- the list in the app -------------------------------------------------------------


def _visible(user_id: str):
    now = utcnow()
    return (
        Notification.recipient_id == user_id,
        or_(Notification.expires_at.is_(None), Notification.expires_at > now),
    )


def unread_count_statement(user_id: str):
    """The bell's COUNT as a statement, so that the header can run it together with
    other counts (messages) in one query."""
    unread = (
        select(Notification.id)
        .where(*_visible(user_id), Notification.read_at.is_(None))
        .limit(COUNT_CAP)
        .subquery()
    )
    return select(func.count()).select_from(unread)


# The same COUNT built once, with its values passed at execution time: building the
# statement costs more than running it. Another query may carry it as a scalar
# subquery and pass `unread_count_params(user_id)` with its own parameters.
UNREAD_COUNT = select(func.count()).select_from(
    select(Notification.id)
    .where(
        Notification.recipient_id == bindparam("bell_user"),
        or_(
            Notification.expires_at.is_(None),
            Notification.expires_at > bindparam("bell_now"),
        ),
        Notification.read_at.is_(None),
    )
    .limit(COUNT_CAP)
    .subquery()
)


def unread_count_params(user_id: str) -> dict:
    return {"bell_user": user_id, "bell_now": utcnow()}


def unread_count(user_id: str) -> int:
    """Unread notifications for the bell: one COUNT over at most 100 index rows."""
    return db.session.scalar(UNREAD_COUNT, unread_count_params(user_id)) or 0


def list_notifications(user: User) -> list[Notification]:
    """The newest notifications of this person (reminders disappear once stale)."""
    notes = list(
        db.session.scalars(
            select(Notification)
            .where(*_visible(user.id))
            .order_by(Notification.created_at.desc())
            .limit(LIST_LENGTH)
        )
    )
    for patient_id in dict.fromkeys(n.patient_id for n in notes if n.patient_id):
        audit("read", "notification", patient_id=patient_id, detail="list")
    if not notes:
        audit("read", "notification", detail="empty list")
    return notes


def load_notification(user: User, notification_id: str) -> Notification | None:
    """The person's own notification, or None (which the view answers with 404)."""
    if not is_id(notification_id):
        return None
    note = db.session.get(Notification, notification_id)
    if note is None or note.recipient_id != user.id:
        return None
    return note


def open_notification(user: User, note: Notification) -> str:
    """Mark it read and return the page it is about."""
    mark_read(user, note)
    audit("read", "notification", patient_id=note.patient_id, object_id=note.id)
    return safe_target(note.target)


def mark_read(user: User, note: Notification) -> None:
    if note.read_at is None:
        note.read_at = utcnow()
        audit("write", "notification", patient_id=note.patient_id, object_id=note.id)


def mark_all_read(user: User) -> int:
    result = db.session.execute(
        update(Notification)
        .where(Notification.recipient_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    changed = result.rowcount or 0
    if changed:
        audit(
            "write",
            "notification",
            patient_id=user.id if not user.is_staff else None,
            detail=f"marked {changed} read",
        )
    return changed


# ---- devices -------------------------------------------------------------------------


def list_devices(user: User) -> list[PushSubscription]:
    return list(
        db.session.scalars(
            select(PushSubscription)
            .where(PushSubscription.user_id == user.id)
            .order_by(PushSubscription.created_at)
        )
    )


def save_device(
    user: User, data, user_agent: str | None, settings: PushSettings
) -> PushSubscription:
    """Store this browser's subscription for the person; raises SubscriptionError.

    A browser has one subscription per site. When someone else signs in on the same
    phone and turns notifications on, the phone becomes theirs: the old owner's row
    goes, so their notifications stop arriving on a phone they no longer use.
    """
    parsed = parse_subscription(data, settings)
    existing = db.session.scalar(
        select(PushSubscription).where(
            PushSubscription.endpoint_hash == parsed.endpoint_hash
        )
    )
    if existing is not None and existing.user_id == user.id:
        existing.p256dh, existing.auth = parsed.p256dh, parsed.auth
        return existing
    if existing is not None:
        log.info(
            "push subscription %s moved from user %s to user %s",
            existing.id,
            existing.user_id,
            user.id,
        )
        _forget_device(existing, detail="moved to another account")
    _make_room(user, settings.max_devices)
    device = PushSubscription(
        user_id=user.id,
        endpoint=parsed.endpoint,
        endpoint_hash=parsed.endpoint_hash,
        p256dh=parsed.p256dh,
        auth=parsed.auth,
        device_label=device_label(user_agent),
    )
    db.session.add(device)
    db.session.flush()
    audit("create", "push_subscription", patient_id=_patient(user), object_id=device.id)
    return device


def _make_room(user: User, limit: int) -> None:
    devices = list_devices(user)
    for old in devices[: max(0, len(devices) - limit + 1)]:
        _forget_device(old, detail="device limit")


def load_device(user: User, device_id: str) -> PushSubscription | None:
    if not is_id(device_id):
        return None
    device = db.session.get(PushSubscription, device_id)
    return device if device is not None and device.user_id == user.id else None


def remove_device(user: User, device: PushSubscription) -> None:
    """Stop pushing to this device; its queued pushes go with it."""
    _forget_device(device, detail="removed by owner")


def _forget_device(device: PushSubscription, detail: str) -> None:
    owner = db.session.get(User, device.user_id)
    audit(
        "revoke",
        "push_subscription",
        patient_id=_patient(owner) if owner else None,
        object_id=device.id,
        detail=detail,
    )
    db.session.delete(device)
    db.session.flush()


def _patient(user: User) -> str | None:
    return user.id if user.role is Role.PATIENT else None


# ---- preferences ---------------------------------------------------------------------


def load_preferences(user: User) -> NotificationPreference:
    """The saved preferences, or the defaults (everything on, no quiet hours)."""
    pref = db.session.get(NotificationPreference, user.id)
    return pref or NotificationPreference(user_id=user.id, push_off=[], timezone="UTC")


def save_preferences(
    user: User,
    push_on: set[NotificationKind],
    quiet: tuple[time, time] | None,
) -> NotificationPreference:
    """Which kinds to push, and the quiet hours in the person's program's time zone."""
    pref = db.session.get(NotificationPreference, user.id)
    if pref is None:
        pref = NotificationPreference(user_id=user.id)
        db.session.add(pref)
    # Only the kinds this person is offered: a kind for the other audience is
    # neither shown nor switched off.
    pref.push_off = sorted(
        kind.value
        for kind in kinds_for(user.is_staff)
        if kind not in push_on and not KINDS[kind].always_on
    )
    pref.quiet_start, pref.quiet_end = quiet or (None, None)
    pref.timezone = timezone_of(user)
    pref.updated_at = utcnow()
    audit("write", "notification_preferences", patient_id=_patient(user))
    return pref


def timezone_of(user: User) -> str:
    """The time zone of the person's program (a staff member's first program)."""
    if user.role is Role.PATIENT:
        query = (
            select(Program.timezone)
            .join(Enrollment, Enrollment.program_id == Program.id)
            .where(
                Enrollment.patient_id == user.id,
                Enrollment.status != EnrollmentStatus.DISCHARGED,
            )
        )
    else:
        query = (
            select(Program.timezone)
            .join(StaffMembership, StaffMembership.program_id == Program.id)
            .where(StaffMembership.user_id == user.id)
            .order_by(Program.name)
        )
    return db.session.scalar(query.limit(1)) or "UTC"
