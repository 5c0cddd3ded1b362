"""The record on a phone: the patient's own record, sharing choices and who got the
record; the staff timeline. Every page passes the checks of tests/browser/checks.py."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import sign_in_patient, sign_in_staff

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect


@pytest.mark.browser
def test_patient_reads_their_record_and_manages_sharing(phone, check):
    page = phone
    sign_in_patient(page, "patient2@demo.test")
    page.get_by_role("link", name="My record").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My record")
    expect(
        page.get_by_role("link", name="Download my record (FHIR file)")
    ).to_be_visible()
    check(page, "my record")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download my record (FHIR file)").click()
    assert download.value.suggested_filename == "my-record.json"

    page.get_by_role("link", name="Sharing", exact=True).click()
    expect(page).to_have_url(re.compile(r"/sharing$"))
    expect(page.get_by_text("Not sharing.")).to_be_visible()
    check(page, "sharing")

    page.get_by_text("Share with County Clinic EHR").first.click()
    page.get_by_role("button", name="Share with County Clinic EHR").click()
    expect(page.get_by_text("Choose at least one kind")).to_be_visible()
    check(page, "sharing with errors")

    page.get_by_label("My daily check-ins").check()
    page.get_by_label(re.compile("I have read this")).check()
    page.get_by_role("button", name="Share with County Clinic EHR").click()
    expect(page.get_by_text("Sharing is on")).to_be_visible()
    check(page, "sharing on")

    page.get_by_role("button", name="Stop sharing with County Clinic EHR").click()
    expect(page.get_by_text("Not sharing.")).to_be_visible()
    page.get_by_role("link", name="Who got my record").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Who got my record")
    check(page, "who got my record")


@pytest.mark.browser
def test_therapist_reads_a_patients_timeline(phone, check):
    page = phone
    sign_in_staff(page, "therapist@demo.test")
    page.locator("a[href^='/staff/patients/']").first.click()
    page.get_by_role("link", name="Timeline").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("timeline")
    expect(page.locator(".tl-entry").first).to_be_visible()
    check(page, "timeline")

    page.get_by_label("Check-ins").uncheck()
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".tl-entry.kind-checkin")).to_have_count(0)
    check(page, "timeline filtered")
