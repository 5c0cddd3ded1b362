"""The shared test world with something behind every form: a filled record, an open
risk flag, a flagged conversation, a request nobody owns, a notification, a push
device and an EHR to share with; and the path values of own, other and made-up
objects for any route."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st
from sqlalchemy import select

from portal import db
from portal.blueprints.messages import services as messaging
from portal.blueprints.messages.models import FlagReason, MessageThread
from portal.blueprints.notifications.models import (
    Notification,
    NotificationKind,
    PushSubscription,
)
from portal.blueprints.safety.models import RiskFlag
from portal.security import Role
from tests import factories as f
from tests.factories.needs import make_need
from tests.factories.record import consent, fill_record, make_client
from tests.functional.test_authz_matrix import _fill, _other_track
from tests.property import strategies as hostile


@dataclass
class Furnished:
    world: object
    other_group: object
    fhir_client: object
    secret: str
    known: dict = field(default_factory=dict)

    def path_values(self, rule, user) -> dict[str, dict]:
        """Path values of the person's own object and another program's (read once:
        examples draw them again and again)."""
        key = (rule.rule, user.id if user else None)
        if key not in self.known:
            values = _fill(self.world, self.other_group, rule)
            for name, own in _own_ids(user).items():
                if name in rule.arguments:
                    values["own"][name] = own
            self.known[key] = values
        return self.known[key]

    def urls(self, rule, user) -> st.SearchStrategy[str]:
        """The rule's URL for the person's own object, another program's, or a
        made-up id."""
        if not rule.arguments:
            return st.just(rule.build({}, append_unknown=False)[1])
        values = self.path_values(rule, user)
        known = [rule.build(v, append_unknown=False)[1] for v in values.values()]
        made_up = st.fixed_dictionaries(
            {name: hostile.in_url(hostile.ids) for name in rule.arguments}
        ).map(lambda v: rule.build(v, append_unknown=False)[1])
        return hostile.mostly(st.sampled_from(known), made_up, 2)


def furnish(world) -> Furnished:
    """Fill the world so that the pages of every role show their forms."""
    record = fill_record(world)
    patient = world.patient
    db.session.add(
        RiskFlag(
            patient_id=patient.id,
            program_id=world.program.id,
            open_key=patient.id,
            source="checkin",
            source_id=record["checkins"][0].id,
        )
    )
    thread = db.session.get(MessageThread, record["messages"][0].thread_id)
    messaging.raise_flag(
        thread,
        FlagReason.STAFF_CONCERN,
        world.program,
        note="Please look",
        raised_by=world.staff[Role.PEER],
    )
    make_need(patient, world.program, details="nobody owns this yet")
    for user in (patient, *world.staff.values(), world.director, world.admin):
        db.session.add(
            Notification(recipient_id=user.id, kind=NotificationKind.ANNOUNCEMENT)
        )
        db.session.add(
            PushSubscription(
                user_id=user.id,
                endpoint=f"https://fcm.googleapis.com/fcm/send/{user.id}",
                endpoint_hash=user.id.replace("-", ""),
                p256dh="x" * 87,
                auth="y" * 22,
                device_label="Phone",
            )
        )
    fhir_client, secret = make_client(world.program)
    consent(patient, fhir_client)
    db.session.flush()
    other_group = f.GroupSessionFactory(track_id=_other_track(world), weekday=2)
    return Furnished(world, other_group, fhir_client, secret)


def _own_ids(user) -> dict[str, str | None]:
    """The signed-in person's own notification and device (None when signed out)."""
    if user is None:
        return {}
    return {
        "notification_id": db.session.scalar(
            select(Notification.id).where(Notification.recipient_id == user.id)
        ),
        "device_id": db.session.scalar(
            select(PushSubscription.id).where(PushSubscription.user_id == user.id)
        ),
    }


def signed_in_clients(app, world, roles) -> dict:
    """A test client per role, each signed in once through the real forms (None:
    a visitor who is not signed in)."""
    from tests.conftest import _pick, sign_in

    clients = {}
    for role in roles:
        client = app.test_client()
        if role is not None:
            sign_in(client, _pick(world, role))
        clients[role] = client
    return clients
