"""Every route x every role x own/other object: other patients' data never appears, and
objects outside the circle answer 404. New routes join the matrix automatically; a route
with a path parameter the matrix cannot fill fails the test until it is taught."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select as db_select

from portal.blueprints.auth.models import Role
from tests import factories as f
from tests.conftest import MARKERS, csrf_from

B_CLINICAL = "BRAVO-ROOM-5150"
SKIP = {"static", "auth.sign_out"}  # sign-out is tested on its own; it ends the run

# Which patients' names each role may see somewhere, and whose clinical data.
NAMES_VISIBLE = {
    Role.PATIENT: {"patient"},
    Role.DIRECTOR: {"patient", "patient_b"},
    Role.ADMIN: {"patient", "patient_b"},
}
CLINICAL_VISIBLE = {Role.DIRECTOR: {"patient_b"}}
# Names of program patients: the directory (to open one with a reason) and group rosters
# (whoever runs a program group takes attendance for everyone in it).
NAME_ONLY_PAGES = {"staff.directory", "schedule.roster"}


def _weekday_date(weekday: int) -> str:
    today = date.today()
    return (today - timedelta(days=(today.weekday() - weekday) % 7)).isoformat()


def _fill(world, other_group, rule) -> dict[str, dict]:
    """URL values for the 'own' object and the 'other' (out of circle) object."""
    own, other = {}, {}
    for arg in rule.arguments:
        if arg == "patient_id" or arg == "user_id":
            own[arg], other[arg] = world.patient.id, world.patient_c.id
        elif arg == "session_id":
            own[arg], other[arg] = world.group.id, other_group.id
        elif arg == "day":
            own[arg] = _weekday_date(world.group.weekday)
            other[arg] = _weekday_date(other_group.weekday)
        elif arg == "slug":
            own[arg], other[arg] = "a", "zz"
        elif arg == "flag_id":
            own[arg] = _flag(world.patient, world.program)
            other[arg] = _flag(world.patient_c, world.other_program)
        elif arg == "need_id":
            from tests.functional.needs_fixtures import need_id_for

            own[arg] = need_id_for(world.patient, world.program)
            other[arg] = need_id_for(world.patient_c, world.other_program)
        elif arg == "thread_id":
            from tests.functional.messages_fixtures import thread_id_for

            own[arg] = thread_id_for(world.patient, world.staff[Role.PEER])
            other[arg] = thread_id_for(world.patient_c, world.patient_c)
        elif arg == "consent_id":
            from tests.functional.record_fixtures import consent_id_for

            own[arg] = consent_id_for(world.patient, world.program)
            other[arg] = consent_id_for(world.patient_c, world.other_program)
        elif arg in ("resource_id", "unknown"):
            # FHIR routes answer to bearer tokens only (tests/functional/test_fhir_*).
            own[arg], other[arg] = world.patient.id, world.patient_c.id
        elif arg in (
            "token",
            "subject",
            "item_id",
            "notification_id",
            "device_id",
            "subscription_id",
        ):
            own[arg] = other[arg] = "00000000-0000-4000-8000-000000000000"
        else:
            pytest.fail(f"teach the matrix the path parameter {arg!r} of {rule.rule}")
    return {"own": own, "other": other}


def _forbidden_markers(role: Role, endpoint: str) -> list[str]:
    names = NAMES_VISIBLE.get(role, {"patient"})
    if endpoint in NAME_ONLY_PAGES:
        names = names | {"patient_b"}
    markers = [MARKERS[key] for key in MARKERS if key not in names]
    if "patient_b" not in CLINICAL_VISIBLE.get(role, set()):
        markers.append(B_CLINICAL)
    return markers


@pytest.mark.parametrize("role", list(Role))
def test_every_route_for_every_role_keeps_other_patients_out(
    client, app, login_as, world, role
):
    other_group = f.GroupSessionFactory(track_id=_other_track(world), weekday=2)
    login_as(role)
    token = csrf_from(client.get("/account").get_data(as_text=True))
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP:
            continue
        for which, values in _fill(world, other_group, rule).items():
            path = rule.build(values, append_unknown=False)[1]
            for method in sorted({"GET", "POST"} & rule.methods):
                data = {"csrf_token": token} if method == "POST" else None
                response = client.open(path, method=method, data=data)
                body = response.get_data(as_text=True)
                for marker in _forbidden_markers(role, rule.endpoint):
                    assert marker not in body, (role, method, path)
                if which == "other" and rule.arguments and not _is_public(app, rule):
                    assert response.status_code == 404, (role, method, path)


def test_signed_out_visitors_get_no_patient_data_anywhere(client, app, world):
    other_group = f.GroupSessionFactory(track_id=_other_track(world), weekday=2)
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP:
            continue
        for values in _fill(world, other_group, rule).values():
            path = rule.build(values, append_unknown=False)[1]
            response = client.get(path) if "GET" in rule.methods else client.post(path)
            body = response.get_data(as_text=True)
            for marker in [*MARKERS.values(), B_CLINICAL]:
                assert marker not in body, path
            if not _is_public(app, rule) and response.status_code != 400:
                assert response.status_code == 302, path


def _flag(patient, program) -> str:
    from portal import db
    from portal.blueprints.checkins.models import RiskFlag

    flag = db.session.scalar(
        db_select(RiskFlag).where(RiskFlag.patient_id == patient.id)
    )
    if flag is None:
        flag = RiskFlag(
            patient_id=patient.id,
            program_id=program.id,
            open_key=patient.id,
            source="checkin",
            source_id=patient.id,
        )
        db.session.add(flag)
        db.session.flush()
    return flag.id


def _is_public(app, rule) -> bool:
    return app.view_functions[rule.endpoint].is_public


def _other_track(world):
    from sqlalchemy import select

    from portal import db
    from portal.blueprints.staff.models import Track

    return db.session.scalar(
        select(Track.id).where(Track.program_id == world.other_program.id)
    )
