"""A therapist on a phone: password and TOTP code, their patients, one patient, the
program directory and the reason form, and attendance on a session roster."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import sign_in_staff

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
