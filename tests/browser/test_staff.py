"""A therapist on a phone: password and TOTP code, their patients, one patient, the
program directory and the reason form, and attendance on a session roster."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import sign_in_patient, sign_in_staff

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect

DEMO_TZ = ZoneInfo("America/New_York")  # the demo program's timezone


def _open_a_roster(page, database) -> None:
    """Today's first session from the staff home page; at the weekend, when the demo
    has none, the roster of last Monday's first group (found in the demo database)."""
    sessions = page.locator('a[href^="/staff/sessions/"]')
    if sessions.count():
        sessions.first.click()
        return
    today = datetime.now(DEMO_TZ).date()
    monday = today - timedelta(days=today.weekday())
    with sqlite3.connect(database) as conn:
        (session_id,) = conn.execute(
            "SELECT id FROM group_sessions WHERE weekday = 0 AND kind = 'group' "
            "ORDER BY starts_at LIMIT 1"
        ).fetchone()
    page.goto(f"/staff/sessions/{session_id}/{monday.isoformat()}")


@pytest.mark.browser
def test_therapist_signs_in_with_code_opens_patient_and_marks_attendance(
    phone, check, server
):
    page = phone
    sign_in_staff(page, "therapist@demo.test", check=check)
    expect(page).to_have_url(re.compile(r"/staff$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("My patients")
    check(page, "staff home")

    patients = page.get_by_role("table").get_by_role("link")
    name = patients.first.inner_text()
    patients.first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_role("heading", name="Care team")).to_be_visible()
    check(page, "patient page")
    patient_path = re.sub(r"^https?://[^/]+", "", page.url)

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Program").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Other patients in your program"
    )
    check(page, "program directory")

    # The demo puts every patient on this therapist's team, so the directory may be
    # empty: open the reason form by its address, as its link would.
    page.goto(f"{patient_path}/reason")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Why do you need this record?"
    )
    check(page, "reason form")
    page.get_by_role("button", name="Record reason and open").click()
    expect(page.locator(".error")).to_have_text("Write your reason.")
    check(page, "reason form with errors")
    page.get_by_label("Why do you need to see this patient?").fill(
        "Covering for a colleague in group today."
    )
    page.get_by_role("button", name="Record reason and open").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)

    nav.get_by_role("link", name="My patients").click()
    _open_a_roster(page, server["database"])
    expect(page).to_have_url(re.compile(r"/staff/sessions/"))
    check(page, "roster")

    first = page.locator("fieldset.attendance").first
    who = first.locator("legend").inner_text()
    first.get_by_label("Late").check()
    page.get_by_role("button", name="Save attendance").click()
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    check(page, "roster after saving")

    page.reload()
    row = page.locator("fieldset.attendance", has_text=who)
    expect(row.get_by_label("Late")).to_be_checked()


# ---- a safety alert, seen from each side of the team ---------------------------------

SAM, SAM_NAME = "patient4@demo.test", "Sam Patel"  # the demo's patient with no phone
OPEN_MARKER = "Safety alert open — the on-call clinician has been alerted"
TAKEN_MARKER = "Safety alert open — a clinician is on it"


def _sam_does_not_feel_safe(page) -> None:
    from tests.browser.test_checkins import _fill_checkin

    sign_in_patient(page, SAM)
    page.goto("/check-in")
    _fill_checkin(page, "No", note="Rough night, gave my dog to my sister")
    page.get_by_role("button", name="Send my check-in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you. Your check-in is saved."
    )


@pytest.mark.browser
def test_admin_adds_a_phone_the_peer_sees_only_that_an_alert_is_open_nurse_calls(
    new_phone, check
):
    from portal.phones import INVALID

    admin = new_phone().new_page()
    sign_in_staff(admin, "admin@demo.test")
    admin.get_by_role("link", name=f"Add the mobile phone of {SAM_NAME}").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text(
        f"Mobile phone of {SAM_NAME}"
    )
    check(admin, "mobile phone form")
    admin.get_by_label("Mobile phone number").fill("call me at home")
    admin.get_by_role("button", name="Save the number").click()
    expect(admin.locator(".error")).to_have_text(INVALID)
    check(admin, "mobile phone form with an error")
    admin.get_by_label("Mobile phone number").fill("+1 (617) 555-0177")
    admin.get_by_role("button", name="Save the number").click()
    expect(admin.get_by_role("row", name=re.compile(SAM_NAME))).to_contain_text(
        "(617) 555-0177"
    )

    _sam_does_not_feel_safe(new_phone().new_page())

    peer = new_phone().new_page()
    sign_in_staff(peer, "peer@demo.test")
    row = peer.get_by_role("row", name=re.compile(SAM_NAME))
    expect(row).to_contain_text(OPEN_MARKER)
    check(peer, "peer's patients with an alert marker")
    row.get_by_role("link", name=SAM_NAME).click()
    # Other tests may leave other patients with alerts: wait for Sam's own page.
    expect(peer.get_by_role("heading", level=1)).to_contain_text(SAM_NAME)
    expect(peer.locator("main .safety-marker")).to_contain_text(OPEN_MARKER)
    expect(peer.locator('main a[href="tel:+16175550177"]')).to_be_visible()
    for hidden in ("Rough night", "Daily check-in", "feel safe"):
        expect(peer.locator("main")).not_to_contain_text(hidden)
    check(peer, "patient page with an alert marker")

    nurse = new_phone().new_page()
    sign_in_staff(nurse, "nurse@demo.test")
    menu = nurse.get_by_role("navigation", name="Main")
    menu.get_by_role("link", name=re.compile(r"^Alerts \d+ open$")).click()
    nurse.locator(".flag-list").get_by_role("link", name=SAM_NAME).click()
    main = nurse.locator("main")
    expect(main.locator('a[href="tel:+16175550177"]')).to_be_visible()
    expect(main).to_contain_text("Do you feel safe right now? No")
    expect(main).to_contain_text("Their note: Rough night, gave my dog to my sister")
    expect(main).to_contain_text("Next escalation:")
    check(nurse, "alert with the phone number and what raised it")
    nurse.get_by_role("button", name="I am taking this now").click()
    expect(main).to_contain_text("Not escalating (acknowledged)")

    peer.reload()
    expect(peer.locator(".safety-marker")).to_contain_text(TAKEN_MARKER)

    # Closed again, so the demo's other tests find no alert of ours left open.
    nurse.get_by_label("High", exact=True).check()
    nurse.get_by_label("Plan").fill("Called Sam; safe with sister tonight.")
    nurse.get_by_role("button", name="Save assessment").click()
    nurse.get_by_label("How was this resolved?").fill("Seen in person.")
    nurse.get_by_role("button", name="Close the alert").click()
    expect(main).to_contain_text("Not escalating (closed)")
    peer.reload()
    expect(peer.locator(".safety-marker")).to_have_count(0)
