"""The list says what each item is about ("About your ride request of Tue 3 Dec"),
in a constant number of statements; the push stays generic, word for word as before."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from portal import db
from portal.blueprints.needs.events import tell_owner, tell_patient
from portal.blueprints.needs.models import NeedKind, SdohCategory
from portal.blueprints.notifications.models import Notification, NotificationKind
from portal.blueprints.notifications.services import notify
from portal.db import utcnow
from portal.security import Role
from tests.conftest import sign_in
from tests.factories.messages import thread_id_for
from tests.factories.needs import make_need

NY = ZoneInfo("America/New_York")
ASKED = datetime(2026, 12, 1, 15, 0, tzinfo=NY)  # a Tuesday


def _ride(patient, program, **values):
    fields = {
        "kind": NeedKind.TRANSPORT,
        "category": SdohCategory.TRANSPORTATION,
        "other_need": None,
        "created_at": ASKED,
    }
    return make_need(patient, program, **(fields | values))


def test_the_patients_list_names_the_request_and_the_conversation(client, world):
    ride = _ride(world.patient, world.program)
    tell_patient(ride)
    from portal.blueprints.messages.models import MessageThread

    thread = db.session.get(
        MessageThread, thread_id_for(world.patient, world.staff[Role.PEER])
    )
    notify(world.patient, NotificationKind.NEW_MESSAGE, thread, target="/messages")
    sign_in(client, world.patient)
    page = client.get("/notifications").get_data(as_text=True)
    assert "About your ride request of Tue 1 Dec" in page
    assert "About your conversation with your care team" in page


def test_staff_read_whose_request_it_is(client, world):
    food = make_need(
        world.patient,
        world.program,
        owner_id=world.staff[Role.CASE_MANAGER].id,
        created_at=ASKED,
    )
    tell_owner(food)
    sign_in(client, world.staff[Role.CASE_MANAGER])
    page = client.get("/notifications").get_data(as_text=True)
    assert f"About {world.patient.display_name}&#39;s request for help with food" in (
        page
    )


def test_an_item_about_something_the_reader_may_not_see_names_nothing(client, world):
    # a notification pointing at another patient's request (it cannot happen through
    # the features; the list must still not describe it)
    theirs = _ride(world.patient_b, world.program, details="BRAVO-DETAILS-1")
    notify(world.patient, NotificationKind.NEED_UPDATE, theirs, target="/help")
    sign_in(client, world.patient)
    page = client.get("/notifications").get_data(as_text=True)
    assert "There is an update on your request" in page
    assert "About " not in page


def test_the_list_sends_the_same_statements_for_one_item_or_thirty(
    client, world, query_counter
):
    from portal.blueprints.messages.models import MessageThread

    thread = db.session.get(
        MessageThread, thread_id_for(world.patient, world.staff[Role.PEER])
    )
    tell_patient(_ride(world.patient, world.program))
    notify(world.patient, NotificationKind.NEW_MESSAGE, thread, target="/messages")
    sign_in(client, world.patient)
    client.get("/notifications")
    query_counter["n"] = 0
    client.get("/notifications")
    few = query_counter["n"]
    for n in range(14):
        tell_patient(
            _ride(world.patient, world.program, created_at=ASKED + timedelta(n))
        )
        notify(world.patient, NotificationKind.NEW_MESSAGE, thread, target="/messages")
    query_counter["n"] = 0
    page = client.get("/notifications").get_data(as_text=True)
    assert query_counter["n"] == few
    assert page.count('class="note-about">About your ride request of') == 15


def test_a_push_about_a_request_is_as_generic_as_before(
    add_device, world, outbox, push_service
):
    add_device(world.patient)
    ride = _ride(world.patient, world.program, pickup="12 ELM-STREET-MARKER")
    tell_patient(ride)
    note = db.session.query(Notification).filter_by(subject_id=ride.id).one()
    assert outbox.deliver_due() == 1
    [message] = push_service.accepted()
    assert message.payload == {
        "title": "Day Program",
        "body": "There is an update on your request",
        "url": f"/n/{note.id}",
        "tag": note.id,
    }
    assert "ride" not in str(message.payload).lower()
    assert utcnow() > ASKED
