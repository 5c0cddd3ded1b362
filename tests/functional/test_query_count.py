"""Patient pages use a constant number of queries whatever the data size, within
their budget."""

from __future__ import annotations

from datetime import timedelta

from portal.db import utcnow
from portal.security import Role
from tests import factories as f


def _grow(world, n: int) -> None:
    for _ in range(n):
        other = f.UserFactory()
        f.EnrollmentFactory(
            patient_id=other.id, program_id=world.program.id, track_id=world.track.id
        )
        f.AppointmentFactory(patient_id=other.id, staff_id=world.other_therapist.id)
    for hours in range(1, 6):
        start = utcnow() + timedelta(hours=hours)
        f.AppointmentFactory(
            patient_id=world.patient.id,
            staff_id=world.staff[Role.THERAPIST].id,
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
        )


def _count(client, counter, url):
    client.get(url)  # warm: the first request of a session may refresh last-seen
    counter["n"] = 0
    assert client.get(url).status_code == 200
    return counter["n"]


def test_patient_pages_use_the_same_few_queries_with_more_data(
    client, login_as, world, query_counter
):
    login_as(Role.PATIENT)
    small = {url: _count(client, query_counter, url) for url in ("/", "/week")}
    _grow(world, 60)
    large = {url: _count(client, query_counter, url) for url in ("/", "/week")}
    assert small == large, query_counter["statements"]
    # Today: the session, the patient's context, the day's sessions and
    # appointments, the check-in status, the header's counts, the audit row
    assert large["/"] <= 8, query_counter["statements"]
    assert large["/week"] <= 10, query_counter["statements"]
