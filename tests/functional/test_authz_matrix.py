"""Every route x every role x own/other object: other patients' data never appears, and
objects outside the circle answer 404. New routes join the matrix automatically; a route
with a path parameter the matrix cannot fill fails the test until it is taught."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select as db_select

from portal.security import Role
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
# Names of program patients: the directory (to open one with a reason), group rosters
# (whoever runs a program group takes attendance for everyone in it) and the morning
# huddle (the program's whole team meets over the program's patients).
NAME_ONLY_PAGES = {"staff.directory", "schedule.roster", "staff.huddle_board"}


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
            from tests.factories.needs import need_id_for

            own[arg] = need_id_for(world.patient, world.program)
            other[arg] = need_id_for(world.patient_c, world.other_program)
        elif arg in ("appointment_id", "change_id"):
            from tests.factories import schedule

            made = getattr(schedule, f"{arg}_for")
            own[arg] = made(world.patient, world.staff[Role.THERAPIST])
            other[arg] = made(world.patient_c, _elsewhere_therapist(world))
        elif arg == "thread_id":
            from tests.factories.messages import thread_id_for

            own[arg] = thread_id_for(world.patient, world.staff[Role.PEER])
            other[arg] = thread_id_for(world.patient_c, world.patient_c)
        elif arg == "consent_id":
            from tests.factories.record import consent_id_for

            own[arg] = consent_id_for(world.patient, world.program)
            other[arg] = consent_id_for(world.patient_c, world.other_program)
        elif arg in ("authorization_id", "coverage_id", "packet_id", "file_id"):
            own[arg], other[arg] = _review_ids(world, arg)
        elif arg == "program_id":
            own[arg], other[arg] = world.program.id, world.other_program.id
        elif arg == "action_id":
            own[arg] = _huddle_action(world.patient, world.program, world)
            other[arg] = _huddle_action(world.patient_c, world.other_program, world)
        elif arg == "figure":
            own[arg] = other[arg] = "census"
        elif arg in ("resource_id", "unknown"):
            # FHIR routes answer to bearer tokens only (record/test_fhir_api.py).
            own[arg], other[arg] = world.patient.id, world.patient_c.id
        elif arg == "group_id":
            # Bulk export: bearer tokens only (record/test_fhir_export.py).
            own[arg], other[arg] = world.program.id, world.other_program.id
        elif arg in (
            "export_id",
            "export_file_id",
            "token",
            "subject",
            "item_id",
            "notification_id",
            "device_id",
            "subscription_id",
            "passkey_id",
        ):
            own[arg] = other[arg] = "00000000-0000-4000-8000-000000000000"
        else:
            pytest.fail(f"teach the matrix the path parameter {arg!r} of {rule.rule}")
    return {"own": own, "other": other}


def _review_ids(world, arg: str) -> tuple[str, str]:
    from tests.factories import reviews

    if arg == "file_id":
        return (
            reviews.billing_file_id_for(world.program, world.admin),
            reviews.billing_file_id_for(world.other_program, world.other_admin),
        )
    if arg == "packet_id":
        maker = world.staff[Role.THERAPIST]
        return (
            reviews.packet_id_for(world.patient, maker),
            reviews.packet_id_for(world.patient_c, maker),
        )
    made = getattr(reviews, f"{arg.removesuffix('_id')}_id_for")
    return made(world.patient), made(world.patient_c)


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
                body = response.get_data().decode("utf-8", "replace")  # PDFs too
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
                # Signed in by a token in the form (a queued check-in): none, so 404.
                by_token = hasattr(app.view_functions[rule.endpoint], "user_loader")
                assert response.status_code == (404 if by_token else 302), path


def _flag(patient, program) -> str:
    from portal import db
    from portal.blueprints.safety.models import RiskFlag

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


def _elsewhere_therapist(world):
    """A therapist of the other program (the world's "Therapist Elsewhere")."""
    from portal import db
    from portal.blueprints.auth.models import User

    return db.session.scalar(
        db_select(User).where(User.display_name == "Therapist Elsewhere")
    )


def _huddle_action(patient, program, world) -> str:
    from portal import db
    from portal.blueprints.staff.models import HuddleAction
    from portal.db import utcnow

    action = db.session.scalar(
        db_select(HuddleAction).where(HuddleAction.patient_id == patient.id)
    )
    if action is None:
        action = HuddleAction(
            program_id=program.id,
            patient_id=patient.id,
            what="call about the ride",
            owner_id=world.director.id,
            due_at=utcnow(),
            created_by_id=world.director.id,
        )
        db.session.add(action)
        db.session.flush()
    return action.id


def _is_public(app, rule) -> bool:
    return app.view_functions[rule.endpoint].is_public


def _other_track(world):
    from sqlalchemy import select

    from portal import db
    from portal.blueprints.programs.models import Track

    return db.session.scalar(
        select(Track.id).where(Track.program_id == world.other_program.id)
    )


# Not ids of ours, though each has an id's length and dashes.
NEAR_IDS = [
    "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaa%00a",
    "AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA",
    "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
    "%C3%A9aaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaa",
]
ID_ARGUMENTS = {
    "patient_id",
    "user_id",
    "session_id",
    "flag_id",
    "need_id",
    "thread_id",
    "appointment_id",
    "change_id",
    "consent_id",
    "notification_id",
    "device_id",
    "action_id",
}


@pytest.mark.parametrize("role", [Role.PATIENT, Role.NURSE, Role.DIRECTOR, Role.ADMIN])
def test_ids_that_only_look_like_ours_answer_404_everywhere(
    client, app, login_as, world, role
):
    other_group = f.GroupSessionFactory(track_id=_other_track(world), weekday=2)
    login_as(role)
    token = csrf_from(client.get("/account").get_data(as_text=True))
    for rule in app.url_map.iter_rules():
        names = ID_ARGUMENTS & rule.arguments
        if not names or rule.endpoint in SKIP or rule.rule.startswith("/fhir"):
            continue  # FHIR ids: record/test_fhir_api.py
        own = _fill(world, other_group, rule)["own"]
        for near in NEAR_IDS:
            path = rule.build(own, append_unknown=False)[1]
            for name in names:
                path = path.replace(str(own[name]), near)
            for method in sorted({"GET", "POST"} & rule.methods):
                data = {"csrf_token": token} if method == "POST" else None
                response = client.open(path, method=method, data=data)
                assert response.status_code == 404, (role, method, path)
