"""The audit report: who read or changed which patient's data, when, from where,
allowed or refused, for the director's programs only; its filters, its CSV, the
chain's state at the top, and its own reading audited."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from portal import db
from portal.audit import (
    AuditEvent,
    BreakKind,
    ChainBreak,
    Outcome,
    VerifyResult,
    audit,
    record_verification,
)
from portal.blueprints.staff import audit_report
from portal.db import utcnow
from portal.security import Role
from tests.conftest import MARKERS, sign_in


def _row(actor, patient, action="read", kind="checkin", outcome="allowed", at=None):
    """An audit row as a request would write it (hash and all)."""
    record = audit(
        action,
        kind,
        patient_id=patient.id if patient else None,
        actor=actor,
        outcome=Outcome(outcome),
    )
    if at is not None:
        # Written straight in: rows cannot be updated, so an old one is inserted.
        db.session.execute(
            insert(AuditEvent).values(
                at=at,
                actor_id=actor.id,
                actor_role=actor.role.value,
                patient_id=patient.id if patient else None,
                action=action,
                data_kind=kind,
                outcome=outcome,
                row_hash="0" * 64,
            )
        )
    return record


def _report(client, query: str = "") -> str:
    response = client.get(f"/staff/audit{query}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _tbody(html: str) -> str:
    return html[html.index("<tbody>") : html.index("</tbody>")]


def test_the_director_sees_who_did_what_to_whose_data_and_the_result(client, world):
    therapist = world.staff[Role.THERAPIST]
    _row(therapist, world.patient, "read", "checkin")
    _row(therapist, world.patient_b, "read", "trends", outcome="denied")
    sign_in(client, world.director)
    body = _tbody(_report(client))
    assert MARKERS["patient"] in body and MARKERS["patient_b"] in body
    assert "therapist one (therapist)" in body
    assert "read: trends" in body and "<strong>Refused</strong>" in body
    assert "127.0.0.1" in body  # the sign-in's own rows come from the test client


def test_another_programs_patient_stays_nameless_and_others_rows_stay_out(
    client, world
):
    therapist = world.staff[Role.THERAPIST]
    _row(therapist, world.patient_c, "read", "enrollment", outcome="denied")
    elsewhere = db.session.scalar(
        select(AuditEvent.actor_id).where(AuditEvent.actor_id.is_not(None)).limit(1)
    )
    assert elsewhere  # rows exist; the other program's own staff act below
    from tests import factories as f

    outsider = f.UserFactory(staff=True, role=Role.THERAPIST)
    f.StaffMembershipFactory(user_id=outsider.id, program_id=world.other_program.id)
    _row(outsider, world.patient_c, "read", "checkin")
    sign_in(client, world.director)
    body = _tbody(_report(client))
    assert "Another program's patient" in body
    assert MARKERS["patient_c"] not in body
    assert outsider.display_name not in body


def test_filters_by_patient_staff_member_action_result_and_days(client, world):
    therapist, nurse = world.staff[Role.THERAPIST], world.staff[Role.NURSE]
    _row(therapist, world.patient, "read", "checkin")
    _row(nurse, world.patient, "update", "safety_plan")
    _row(nurse, world.patient_b, "export", "record", outcome="denied")
    _row(nurse, world.patient_b, "read", "checkin", at=utcnow() - timedelta(days=40))
    sign_in(client, world.director)

    def shown(query: str) -> str:
        return _tbody(_report(client, query))

    only_a = shown(f"?patient={world.patient.id}")
    assert MARKERS["patient_b"] not in only_a and "update: safety plan" in only_a
    by_nurse = shown(f"?staff={nurse.id}")
    assert "therapist one" not in by_nurse and "update: safety plan" in by_nurse
    changed = shown(f"?staff={nurse.id}&what=changed")
    assert "update: safety plan" in changed and "export" not in changed
    shared = shown("?what=shared")
    assert "export: record" in shared and "update" not in shared
    refused = shown("?outcome=denied")
    assert "export: record" in refused and "safety plan" not in refused
    last_month = (utcnow() - timedelta(days=41)).date().isoformat()
    old_day = (utcnow() - timedelta(days=39)).date().isoformat()
    old = shown(f"?since={last_month}&until={old_day}")
    assert "read: checkin" in old and MARKERS["patient_b"] in old
    assert "safety plan" not in old


def test_a_bad_day_is_shown_back_and_lists_nothing(client, world):
    sign_in(client, world.director)
    response = client.get("/staff/audit?since=not-a-day")
    assert response.status_code == 422
    assert "Not a valid date value." in response.get_data(as_text=True)
    response = client.get("/staff/audit?since=2026-02-10&until=2026-02-01")
    assert response.status_code == 422
    assert "Choose a day on or after the first day." in response.get_data(as_text=True)
    assert "<tbody>" not in response.get_data(as_text=True)


def test_older_rows_come_a_page_at_a_time(client, world, monkeypatch):
    monkeypatch.setattr(audit_report, "PAGE_SIZE", 3)
    therapist = world.staff[Role.THERAPIST]
    for _ in range(5):
        _row(therapist, world.patient, "read", "timeline")
    sign_in(client, world.director)
    html = _report(client, f"?staff={therapist.id}")
    assert _tbody(html).count("read: timeline") == 3
    older = html.split('href="/staff/audit?')[-1].split('"')[0].replace("&amp;", "&")
    assert "before=" in older
    assert _tbody(_report(client, f"?{older}")).count("read: timeline") == 2


def test_reading_and_exporting_the_report_is_audited(client, world):
    therapist = world.staff[Role.THERAPIST]
    _row(therapist, world.patient, "read", "checkin")
    sign_in(client, world.director)
    _report(client, f"?patient={world.patient.id}&what=read")
    client.get(f"/staff/audit.csv?patient={world.patient.id}").get_data()
    rows = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.data_kind == "audit_report")
        .order_by(AuditEvent.id)
    ).all()
    assert [(r.action, r.patient_id, r.actor_id) for r in rows] == [
        ("read", world.patient.id, world.director.id),
        ("export", world.patient.id, world.director.id),
    ]
    assert rows[0].detail == "what=read"


def test_the_csv_has_every_matching_row(client, world, monkeypatch):
    monkeypatch.setattr(audit_report, "PAGE_SIZE", 2)  # the file is not paged
    therapist = world.staff[Role.THERAPIST]
    for kind in ("checkin", "trends", "timeline"):
        _row(therapist, world.patient, "read", kind)
    sign_in(client, world.director)
    response = client.get(f"/staff/audit.csv?staff={therapist.id}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="audit-report-'
    )
    assert world.patient.id not in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["When (America/New_York)", "Who", "Role", "Patient"]
    kinds = [r[6] for r in rows[1:]]
    assert kinds == ["timeline", "trends", "checkin"]
    assert {r[3] for r in rows[1:]} == {MARKERS["patient"]}
    assert {r[4] for r in rows[1:]} == {world.patient.id}


def test_someone_outside_the_programs_answers_404_and_is_recorded(client, world):
    sign_in(client, world.director)
    outsider = world.patient_c.id
    for path in (
        f"/staff/audit?patient={outsider}",
        f"/staff/audit.csv?patient={outsider}",
        "/staff/audit?patient=nobody",
        f"/staff/audit?staff={world.other_admin.id}",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert MARKERS["patient_c"] not in response.get_data(as_text=True)
    denied = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.data_kind == "audit_report", AuditEvent.outcome == "denied"
        )
    ).all()
    assert outsider in {row.patient_id for row in denied}


@pytest.mark.parametrize(
    "role",
    [
        Role.THERAPIST,
        Role.PEER,
        Role.ADMIN,
        Role.CASE_MANAGER,
        Role.NURSE,
        Role.PATIENT,
    ],
)
def test_only_directors_open_the_audit_report(client, login_as, world, role):
    login_as(role)
    assert client.get("/staff/audit").status_code == 404
    assert client.get("/staff/audit.csv").status_code == 404


# ---- the chain's state at the top ----------------------------------------------------


def test_the_report_says_when_the_chain_was_not_checked(client, world):
    sign_in(client, world.director)
    assert "has not been checked lately" in _report(client)


def test_the_report_shows_the_last_check_intact_or_broken(client, world):
    record_verification(VerifyResult(checked=120, unsealed=3, head_seq=120))
    sign_in(client, world.director)
    html = _report(client)
    assert "Audit chain intact" in html
    assert "120 rows checked, 3 not sealed yet" in html
    broken = VerifyResult(8, 0, 8, [ChainBreak(BreakKind.ALTERED, 5, 5)])
    record_verification(broken)
    html = _report(client)
    assert "Audit chain BROKEN" in html and "row id 5 (sequence 5) was altered" in html


def test_a_check_row_slipped_in_by_hand_is_not_believed(client, world):
    db.session.execute(
        insert(AuditEvent).values(
            at=utcnow(),
            action="verify",
            data_kind="audit_chain",
            outcome="allowed",
            detail="intact: 1000000 rows checked, 0 not sealed yet",
            row_hash="f" * 64,
        )
    )
    sign_in(client, world.director)
    html = _report(client)
    assert "does not match its own hash" in html
    assert "Audit chain intact" not in html
