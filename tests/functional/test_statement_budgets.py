"""Every GET page each role may open keeps a constant number of SQL statements, within
its budget, whether the program holds a few patients or many times more data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.db import utcnow
from portal.security import Role
from tests import factories as f
from tests.factories.messages import add_message, thread_id_for
from tests.factories.needs import make_need
from tests.factories.record import fill_record
from tests.factories.reviews import make_authorization
from tests.functional.test_authz_matrix import _fill, _other_track

BUDGET = 10
# Pages allowed more, each with its reason.
PAGE_BUDGETS: dict[str, tuple[int, str]] = {
    "record.my_record": (16, "one SELECT per kind of record the patient's copy holds"),
    "record.download_record": (16, "the same copy, as a file"),
    "record.timeline": (16, "one SELECT per kind of record the timeline shows"),
    "reviews.packet_preview": (
        14,
        "one SELECT per section of the packet (attendance, days used, absences, "
        "PHQ-9/GAD-7, check-ins, risk flags, help requests, care team, statements) "
        "and the packets made before",
    ),
    "safety.flag": (
        11,
        "what raised the alert: one SELECT per kind of answer (check-in, screener, "
        "message); the next escalation's people may need the directors and a name",
    ),
    "staff.board": (
        15,
        "one aggregate per figure (8: census and stay share one, the two request "
        "figures one), the director's programs and, on PostgreSQL, custom plans "
        "for them (board.py), besides session and audit",
    ),
    "staff.home": (
        13,
        "the caseload (patients, check-ins, missed days, scores, flags) and today's "
        "sessions, and the role's part of the huddle: its program and last huddle, "
        "who of my patients needs attention (one statement), my open actions and "
        "my programs (to pick which one's huddle the home shows)",
    ),
    "staff.huddle_board": (
        15,
        "one aggregate each for the program and its last huddle, the census, "
        "admissions and discharges, who needs attention (every reason in one "
        "statement), the authorizations' warnings (2, reviews/worklist.py), the open "
        "actions, and for clinicians the notes and the team to own an action, "
        "besides session, header and audit",
    ),
}
SKIP = {"static", "auth.sign_out"}
GROWTH_PATIENTS = 12


def _grow(world) -> None:
    """More patients on the whole care team, each with a request, a thread and an
    appointment, and weeks more of the first patient's record."""
    from portal import db
    from portal.blueprints.messages.models import MessageThread

    for n in range(GROWTH_PATIENTS):
        patient = f.UserFactory(display_name=f"Grown Patient {n}")
        f.EnrollmentFactory(
            patient_id=patient.id,
            program_id=world.program.id,
            track_id=world.track.id,
        )
        for member in world.staff.values():
            f.CareTeamFactory(
                patient_id=patient.id,
                staff_id=member.id,
                team_role=f.TEAM_ROLE_OF[member.role],
            )
        start = utcnow() + timedelta(hours=1 + n % 5)
        f.AppointmentFactory(
            patient_id=patient.id,
            staff_id=world.staff[Role.THERAPIST].id,
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
        )
        make_need(patient, world.program)
        thread = db.session.get(
            MessageThread, thread_id_for(patient, world.staff[Role.PEER])
        )
        add_message(thread, patient, "Hello again")
        make_authorization(patient, reference=f"PA-GROWN-{n}")
    fill_record(world, days=20, weeks_back=4)


def _pages(app, world, other_group) -> list[tuple[str, str]]:
    pages = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP or "GET" not in rule.methods:
            continue
        if rule.rule.startswith("/fhir"):
            continue  # bearer-token API: bench/fhir_everything.py counts it
        values = _fill(world, other_group, rule)["own"]
        pages.append((rule.endpoint, rule.build(values, append_unknown=False)[1]))
    return pages


def _statements(client, counter, pages) -> dict[str, tuple[int, int]]:
    client.get("/account")  # the first request of a session may refresh last-seen
    seen = {}
    for endpoint, path in pages:
        counter["n"] = 0
        status = client.get(path).status_code
        seen[path] = (status, counter["n"], endpoint)
    return seen


@pytest.mark.parametrize("role", list(Role))
def test_each_page_keeps_its_statements_whatever_the_data_size(
    app, client, login_as, world, query_counter, role
):
    other_group = f.GroupSessionFactory(track_id=_other_track(world), weekday=2)
    fill_record(world, days=2)
    login_as(role)
    pages = _pages(app, world, other_group)
    small = _statements(client, query_counter, pages)
    _grow(world)
    large = _statements(client, query_counter, pages)
    grew, over = [], []
    for path, (status, count, endpoint) in large.items():
        if status != small[path][0]:
            continue  # e.g. a page that appears only once there is data
        if count > small[path][1]:
            grew.append((path, small[path][1], count))
        budget = PAGE_BUDGETS.get(endpoint, (BUDGET, ""))[0]
        if status == 200 and count > budget:
            over.append((path, count, budget))
    assert not grew, f"statements grew with the data: {grew}"
    assert not over, f"pages over their statement budget: {over}"
