"""Utilization review: coverage and authorizations refused when they cannot be true,
days used counted from attendance, hours per week, gaps, the worklist's warnings and
their notifications, the packet (content, who may open it, its PDF, sending it to
the payer), FHIR Coverage and ClaimResponse, and the billing days CSV."""

from __future__ import annotations

import csv
import io
from datetime import time, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.notifications.models import Notification, NotificationKind
from portal.blueprints.programs.models import LevelOfCare
from portal.blueprints.record.models import Disclosure
from portal.blueprints.record.sharing import give_payment_consent
from portal.blueprints.reviews import billing, usage
from portal.blueprints.reviews.models import (
    Authorization,
    AuthorizationStatus,
    CoverageChange,
    NecessityStatement,
    ReviewFile,
    ReviewPacket,
)
from portal.blueprints.reviews.packet import (
    PacketError,
    make_packet,
    save_statement,
    sign_statement,
)
from portal.blueprints.reviews.tasks import warn_program
from portal.blueprints.reviews.worklist import (
    attention_for_program,
    nth_program_day,
)
from portal.blueprints.schedule.models import AttendanceStatus
from portal.security import Role
from tests.conftest import MARKERS, csrf_from, post_form, program_today, sign_in
from tests.factories.reviews import (
    PAYER,
    attend,
    enrollment_of,
    group,
    make_authorization,
    make_coverage,
    review_of,
)

TODAY = program_today()
MONDAY = TODAY - timedelta(days=TODAY.weekday() + 7)  # last week's Monday


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def week(world):
    """A hand-made week of world.patient in the PHP track (minimum 4 h a day):
    Monday 3 h + 1 h (counts), Tuesday 3 h (does not), Wednesday 3 h + 1 h late
    (counts), Thursday excused, Friday 4 h in an IOP track (not PHP)."""
    recorder = world.staff[Role.THERAPIST]
    morning = {d: group(world.track, d, time(9), time(12)) for d in range(4)}
    afternoon = {d: group(world.track, d, time(13), time(14)) for d in range(4)}
    iop = group(world.iop_track, 4, time(9), time(13))
    patient = world.patient
    attend(patient, morning[0], MONDAY, recorder)
    attend(patient, afternoon[0], MONDAY, recorder)
    attend(patient, morning[1], MONDAY + timedelta(days=1), recorder)
    attend(patient, morning[2], MONDAY + timedelta(days=2), recorder)
    attend(
        patient,
        afternoon[2],
        MONDAY + timedelta(days=2),
        recorder,
        AttendanceStatus.LATE,
    )
    attend(
        patient,
        morning[3],
        MONDAY + timedelta(days=3),
        recorder,
        AttendanceStatus.EXCUSED,
    )
    attend(patient, iop, MONDAY + timedelta(days=4), recorder)
    return {"morning": morning, "afternoon": afternoon, "iop": iop}


def _authorize(world, **values):
    fields = {
        "starts_on": MONDAY,
        "ends_on": MONDAY + timedelta(days=27),
        "next_review_on": MONDAY + timedelta(days=20),
        "units": 10,
    }
    fields.update(values)
    return make_authorization(world.patient, **fields)


# ---- coverage and authorizations: bad input ------------------------------------------


def _authorization_form(client, world, **changes) -> dict:
    cov = make_coverage(world.patient)
    data = {
        "coverage_id": cov.id,
        "reference": "PA-2001",
        "level_of_care": "PHP",
        "focus": "mental_health",
        "service_code": "H0035",
        "units": "10",
        "starts_on": TODAY.isoformat(),
        "ends_on": (TODAY + timedelta(days=13)).isoformat(),
        "next_review_on": (TODAY + timedelta(days=7)).isoformat(),
        "status": "approved",
        "denial_reason": "",
        "appeal_by": "",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"ends_on": (TODAY - timedelta(days=1)).isoformat()},
            "The last day cannot be before the first day.",
        ),
        ({"units": "-2"}, "Days authorized cannot be less than 0."),
        (
            {"next_review_on": (TODAY + timedelta(days=30)).isoformat()},
            "The next review date must be between the first and the last day.",
        ),
        (
            {"status": "denied"},
            "Give the reason the payer denied it.",
        ),
        ({"service_code": "S9480"}, "Service code S9480 is not for PHP."),
    ],
)
def test_an_authorization_that_cannot_be_true_is_refused_and_nothing_saved(
    client, login_as, world, changes, message
):
    login_as(Role.ADMIN)
    url = f"/reviews/patients/{world.patient.id}/authorizations/new"
    data = _authorization_form(client, world, **changes)
    before = (_count(Authorization), _count(CoverageChange))
    response = post_form(client, url, data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert (_count(Authorization), _count(CoverageChange)) == before


def test_overlapping_authorizations_for_the_same_level_are_refused(
    client, login_as, world
):
    login_as(Role.ADMIN)
    make_authorization(
        world.patient,
        reference="PA-OLD",
        starts_on=TODAY,
        ends_on=TODAY + timedelta(days=9),
        next_review_on=None,
    )
    url = f"/reviews/patients/{world.patient.id}/authorizations/new"
    data = _authorization_form(client, world)
    before = _count(Authorization)
    response = post_form(client, url, data)
    assert response.status_code == 422
    assert "These dates overlap authorization PA-OLD" in response.get_data(as_text=True)
    assert _count(Authorization) == before
    # Another level of care may run beside it.
    data.update(level_of_care="IOP", service_code="S9480")
    assert post_form(client, url, data).status_code == 303
    assert _count(Authorization) == before + 1


def test_admin_enters_and_changes_an_authorization_and_every_change_is_kept(
    client, login_as, world
):
    admin = login_as(Role.ADMIN)
    url = f"/reviews/patients/{world.patient.id}/authorizations/new"
    assert post_form(client, url, _authorization_form(client, world)).status_code == 303
    auth = db.session.scalar(
        select(Authorization).where(Authorization.reference == "PA-2001")
    )
    edit = f"/reviews/authorizations/{auth.id}/edit"
    data = _authorization_form(client, world, units="12", coverage_id=auth.coverage_id)
    assert post_form(client, edit, data).status_code == 303
    changes = db.session.scalars(
        select(CoverageChange)
        .where(CoverageChange.subject_id == auth.id)
        .order_by(CoverageChange.at)
    ).all()
    assert [c.actor_id for c in changes] == [admin.id, admin.id]
    assert changes[-1].changes == {"units": [10, 12]}
    page = client.get(f"/reviews/patients/{world.patient.id}/coverage").get_data(
        as_text=True
    )
    assert "units 10 → 12" in page and "Admin One" in page


# ---- used days, hours, gaps ----------------------------------------------------------


def test_a_day_counts_only_when_the_track_minimum_was_attended(world, week, app_ctx):
    assert world.track.minimum_daily_hours == Decimal(4)
    assert world.iop_track.minimum_daily_hours == Decimal(3)
    auth = _authorize(world)
    used = dict(
        db.session.execute(usage.used_days_statement(Authorization.id == auth.id)).all()
    )
    assert used == {auth.id: 2}  # Monday and Wednesday; not Tuesday, Thursday, Friday
    days = usage.attended_days(world.patient.id, MONDAY, MONDAY + timedelta(days=6))
    assert [(d.day.weekday(), d.minutes, d.counts) for d in days] == [
        (0, 240, True),
        (1, 180, False),
        (2, 240, True),
        (4, 240, True),  # the IOP day reaches IOP's 3 h, but not against PHP
    ]


def test_a_track_can_ask_for_more_hours(world, week, app_ctx):
    world.track.minimum_daily_hours = Decimal("4.5")
    db.session.flush()
    auth = _authorize(world)
    assert (
        db.session.execute(usage.used_days_statement(Authorization.id == auth.id)).all()
        == []
    )


def test_hours_per_week_against_the_level_of_care(world, week, app_ctx):
    days = usage.attended_days(world.patient.id, MONDAY, MONDAY + timedelta(days=6))
    php = [d for d in days if d.level_of_care is LevelOfCare.PHP]
    (php_week,) = usage.hours_by_week(
        php, LevelOfCare.PHP, MONDAY, MONDAY + timedelta(days=6)
    )
    assert (php_week.hours, php_week.meets, php_week.expectation) == (
        Decimal("11.0"),
        False,
        "at least 20 h",
    )
    weeks = usage.hours_by_week(
        days, LevelOfCare.IOP, MONDAY, MONDAY + timedelta(days=6)
    )
    assert (weeks[0].hours, weeks[0].meets, weeks[0].expectation) == (
        Decimal("15.0"),
        True,
        "9 to 19 h",
    )
    long_week = usage.WeekHours(MONDAY, 5, Decimal(21), 9, 19)
    assert not long_week.meets


def test_days_attended_with_no_authorization_are_gaps(world, week, app_ctx):
    _authorize(world, starts_on=MONDAY + timedelta(days=1))  # Monday is not covered
    days = usage.attended_days(world.patient.id, MONDAY, MONDAY + timedelta(days=6))
    assert [(d.day, d.covered) for d in days if d.counts and not d.covered] == [
        (MONDAY, False),
        (MONDAY + timedelta(days=4), False),  # IOP day: no IOP authorization
    ]


# ---- the worklist and its warnings ---------------------------------------------------


def test_worklist_warns_of_days_running_out_a_review_near_and_no_authorization(
    client, login_as, world, week
):
    auth = _authorize(
        world, units=5, next_review_on=TODAY, ends_on=TODAY + timedelta(days=20)
    )
    # Patient B attends a whole day with no authorization.
    attend(world.patient_b, week["morning"][0], MONDAY, world.director)
    attend(world.patient_b, week["afternoon"][0], MONDAY, world.director)
    login_as(Role.DIRECTOR)
    page = client.get("/reviews").get_data(as_text=True)
    assert "3 authorized days left" in page  # 5 - 2 used
    assert "Review due today" in page
    assert MARKERS["patient_b"] in page and "1 day with no authorization" in page
    attention = attention_for_program(world.program.id, TODAY)
    assert attention[world.patient.id] == [
        "3 authorized days left",
        "Review due today",
        "Attending with no authorization",  # Friday's IOP day: no IOP authorization
    ]
    assert attention[world.patient_b.id] == ["Attending with no authorization"]
    assert auth.id in page


def test_a_review_warns_within_two_program_days_and_not_before(world, app_ctx):
    opening = world.program.opening_hours
    second = nth_program_day(opening, TODAY, 2)
    third = nth_program_day(opening, TODAY, 3)
    make_authorization(
        world.patient,
        next_review_on=second,
        ends_on=third + timedelta(days=5),
        units=30,
    )
    assert any(
        w.startswith("Review due")
        for w in attention_for_program(world.program.id, TODAY)[world.patient.id]
    )
    db.session.execute(Authorization.__table__.update().values(next_review_on=third))
    assert world.patient.id not in attention_for_program(world.program.id, TODAY)


def test_the_worklist_shows_a_clinician_only_their_patients(client, login_as, world):
    make_authorization(world.patient, reference="PA-A")
    make_authorization(world.patient_b, reference="PA-B")
    login_as(Role.THERAPIST)
    page = client.get("/reviews").get_data(as_text=True)
    assert "PA-A" in page and "PA-B" not in page and MARKERS["patient_b"] not in page


def test_warnings_reach_the_prescriber_and_director_once(world, app_ctx):
    make_authorization(world.patient, units=2, next_review_on=TODAY)
    first = warn_program(world.program, TODAY)
    second = warn_program(world.program, TODAY)
    notes = db.session.scalars(
        select(Notification).where(
            Notification.kind == NotificationKind.AUTHORIZATION_REVIEW
        )
    ).all()
    recipients = sorted(n.recipient_id for n in notes)
    prescriber = world.staff[Role.PRESCRIBER].id
    assert first == 4 and second == 0  # two warnings x (prescriber, director)
    assert recipients == sorted(
        [prescriber, prescriber, world.director.id, world.director.id]
    )
    assert all(n.target.startswith("/reviews/authorizations/") for n in notes)


# ---- the packet ----------------------------------------------------------------------


def _signed_review(world):
    auth = _authorize(world)
    review = review_of(auth)
    prescriber = world.staff[Role.PRESCRIBER]
    save_statement(prescriber, review, "Still needs PHP: daily panic, unsafe at night.")
    sign_statement(prescriber, review)
    return auth, review, prescriber


def test_packet_holds_the_evidence_and_a_real_pdf(
    client, login_as, world, week, app_ctx
):
    from tests.factories.record import fill_record

    fill_record(world, days=5)
    _auth, review, prescriber = _signed_review(world)
    packet = make_packet(prescriber, review, MONDAY, TODAY)
    content = packet.content
    assert content["attendance"]["used"] == 2
    assert content["attendance"]["weeks"][0]["hours"] == "15.0"
    assert content["scores"]["PHQ-9"]["latest"]["total"] == 9
    assert content["statement"]["signer_name"] == prescriber.display_name
    assert content["statement"]["signer_role"] == "Psychiatrist or NP"
    stored = db.session.scalar(
        select(ReviewFile).where(ReviewFile.packet_id == packet.id)
    )
    assert stored.data.startswith(b"%PDF")
    text = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(stored.data)).pages
    )
    assert MARKERS["patient"] in text
    assert "PA-1001" in text and "42 CFR part 2" in text
    assert "Still needs PHP" in text


def test_packet_page_and_file_per_role(app, client, login_as, world):
    _auth, review, prescriber = _signed_review(world)
    packet = make_packet(prescriber, review, MONDAY, TODAY)
    for person in (world.admin, world.staff[Role.PEER], world.staff[Role.CASE_MANAGER]):
        other = app.test_client()
        sign_in(other, person)
        for url in (
            f"/reviews/packets/{packet.id}",
            f"/reviews/packets/{packet.id}/file",
            f"/reviews/authorizations/{packet.authorization_id}/packet",
        ):
            response = other.get(url)
            assert response.status_code == 404, (person.role, url)
            assert MARKERS["patient"] not in response.get_data().decode(
                "utf-8", "replace"
            )
    login_as(Role.THERAPIST)
    page = client.get(f"/reviews/packets/{packet.id}")
    assert page.status_code == 200 and "Still needs PHP" in page.get_data(as_text=True)
    pdf = client.get(f"/reviews/packets/{packet.id}/file")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "no-store" in pdf.headers["Cache-Control"]
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == packet.id)
    ).all()
    assert {"create", "read", "download"} <= set(actions)


def test_a_packet_for_a_period_with_no_enrollment_is_refused(client, login_as, world):
    auth = make_authorization(world.patient)
    login_as(Role.THERAPIST)
    page = f"/reviews/authorizations/{auth.id}/packet"
    admitted = enrollment_of(world.patient).admitted_on
    before = _count(ReviewPacket)
    response = post_form(
        client,
        f"/reviews/authorizations/{auth.id}/packets",
        {
            "start": (admitted - timedelta(days=40)).isoformat(),
            "end": (admitted - timedelta(days=10)).isoformat(),
        },
        page=page,
    )
    assert response.status_code == 422
    assert (
        "was not enrolled in the program at any time in that period"
        in response.get_data(as_text=True)
    )
    assert _count(ReviewPacket) == before and _count(ReviewFile) == 0


def test_only_the_prescriber_or_therapist_signs_and_a_signed_statement_is_locked(
    world, app_ctx
):
    auth = _authorize(world)
    review = review_of(auth)
    for other in (world.director, world.staff[Role.NURSE], world.other_therapist):
        with pytest.raises(PacketError):
            save_statement(other, review, "Needs care.")
    therapist = world.staff[Role.THERAPIST]
    first = save_statement(therapist, review, "Version one.")
    sign_statement(therapist, review)
    second = save_statement(therapist, review, "Version two.")
    assert (first.version, first.text, first.signed_at is not None) == (
        1,
        "Version one.",
        True,
    )
    assert (second.version, second.signed_at) == (2, None)
    assert _count(NecessityStatement) == 2


def test_sending_a_packet_needs_a_payment_consent_and_is_in_the_accounting(
    app, client, login_as, world
):
    assert world.program.substance_use
    _auth, review, prescriber = _signed_review(world)
    packet = make_packet(prescriber, review, MONDAY, TODAY)
    login_as(Role.PRESCRIBER)
    url = f"/reviews/packets/{packet.id}/release"
    refused = post_form(client, url, {}, page=f"/reviews/packets/{packet.id}")
    assert refused.status_code == 422
    assert "has not agreed to share with Harbor Health Plan" in refused.get_data(
        as_text=True
    )
    assert _count(Disclosure) == 0 and packet.released_at is None
    give_payment_consent(world.patient, world.program.id, PAYER, "12")
    sent = post_form(client, url, {}, page=f"/reviews/packets/{packet.id}")
    assert sent.status_code == 303
    disclosure = db.session.scalar(select(Disclosure))
    assert (disclosure.recipient, disclosure.client_id, disclosure.allowed) == (
        PAYER,
        None,
        True,
    )
    assert db.session.scalar(select(ReviewPacket.released_to)) == PAYER
    patient = app.test_client()
    sign_in(patient, world.patient)
    history = patient.get("/sharing/history").get_data(as_text=True)
    assert PAYER in history and "a review of your care for payment" in history


def test_the_patient_gives_payment_consent_on_the_sharing_page(client, login_as, world):
    make_coverage(world.patient)
    login_as(Role.PATIENT)
    page = client.get("/sharing").get_data(as_text=True)
    assert f"Your insurance: {PAYER}" in page
    token = csrf_from(page)
    response = client.post(
        "/sharing/payment",
        data={
            "csrf_token": token,
            "pay-0-csrf_token": token,
            "pay-0-payer": PAYER,
            "pay-0-months": "6",
            "pay-0-agree": "y",
        },
    )
    assert response.status_code == 303
    assert "Sharing for payment is on" in client.get("/sharing").get_data(as_text=True)


# ---- FHIR ----------------------------------------------------------------------------


def test_fhir_coverage_and_claim_response_validate_and_carry_part2_labels(
    client, world
):
    from fhir.resources import get_fhir_model_class

    from portal.blueprints.record.sharing import give_consent
    from tests.factories.record import bearer, make_client, token_for

    auth = make_authorization(world.patient, status=AuthorizationStatus.PARTLY_APPROVED)
    fhir_client, secret = make_client(world.program)
    headers = bearer(token_for(client, fhir_client, secret))
    refused = client.get(f"/fhir/ClaimResponse/{auth.id}", headers=headers)
    assert refused.status_code == 403  # Part 2: no consent yet
    give_consent(world.patient, fhir_client, ["coverage"], "12")
    claim = client.get(f"/fhir/ClaimResponse/{auth.id}", headers=headers).get_json()
    coverage = client.get(
        f"/fhir/Coverage/{auth.coverage_id}", headers=headers
    ).get_json()
    for resource in (claim, coverage):
        get_fhir_model_class(resource["resourceType"]).parse_obj(resource)
        codes = {label["code"] for label in resource["meta"]["security"]}
        assert {"R", "42CFRPart2", "ETH", "NORDSCLCD"} <= codes
    assert claim["preAuthRef"] == "PA-1001" and claim["use"] == "preauthorization"
    assert claim["outcome"] == "partial" and claim["insurer"]["display"] == PAYER
    assert coverage["subscriberId"] == "HHP-55501"


# ---- billing -------------------------------------------------------------------------


def test_billing_csv_marks_days_without_an_authorization(client, login_as, world, week):
    from portal.blueprints.messages.models import ContactKind, PeerContact

    _authorize(world, starts_on=MONDAY + timedelta(days=2))  # Monday uncovered
    db.session.add(
        PeerContact(
            patient_id=world.patient.id,
            peer_id=world.staff[Role.PEER].id,
            contact_on=MONDAY + timedelta(days=2),
            minutes=38,
            kind=next(iter(ContactKind)),
        )
    )
    db.session.flush()
    login_as(Role.ADMIN)
    # the week's days by month: a week that straddles two months is in two files
    months = sorted({(MONDAY + timedelta(days=n)).strftime("%Y-%m") for n in range(5)})
    for month in months:
        made = post_form(
            client, "/reviews/billing", {"program_id": world.program.id, "month": month}
        )
        assert made.status_code == 303
    rows = []
    for stored in db.session.scalars(
        select(ReviewFile).where(ReviewFile.kind == "billing_csv")
    ):
        csv_text = client.get(f"/reviews/billing/{stored.id}").get_data(as_text=True)
        rows += list(csv.DictReader(io.StringIO(csv_text)))
    mine = [
        r
        for r in rows
        if r["patient_id"] == world.patient.id
        and r["date"] < (MONDAY + timedelta(days=7)).isoformat()
        and r["date"] >= MONDAY.isoformat()
    ]
    found = {
        (r["date"], r["service_code"], r["units"], r["authorization"], r["note"])
        for r in mine
    }
    monday, wednesday, friday = (
        (MONDAY + timedelta(days=n)).isoformat() for n in (0, 2, 4)
    )
    assert (monday, "H0035", "1", "", billing.NO_AUTHORIZATION) in found
    assert (wednesday, "H0035", "1", "PA-1001", "") in found
    assert (friday, "S9480", "1", "", billing.NO_AUTHORIZATION) in found
    assert (wednesday, "H0038", "3", "PA-1001", "") in found  # 38 min = 3 units
    assert not any(r["date"] == (MONDAY + timedelta(days=1)).isoformat() for r in mine)


def test_billing_month_must_be_a_month(client, login_as, world):
    login_as(Role.DIRECTOR)
    response = post_form(
        client, "/reviews/billing", {"program_id": world.program.id, "month": "soon"}
    )
    assert response.status_code == 422
    assert "Choose a month, like 2026-11." in response.get_data(as_text=True)
    assert _count(ReviewFile) == 0


def test_peer_units_follow_the_8_minute_rule():
    assert [billing.peer_units(m) for m in (7, 8, 15, 22, 23, 38)] == [0, 1, 1, 1, 2, 3]
