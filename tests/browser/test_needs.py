"""Requests for help on a phone: a patient asks for housing help and follows it; with
JavaScript off a patient asks for a ride; a case manager takes a request from the
queue and answers it; the director reads response times (on the board) and sets
targets. Every page passes the
shared checks (axe, 320 px reflow, 44 px targets, CSP)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import PHONE, sign_in_patient, sign_in_staff

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect

DEMO_TZ = ZoneInfo("America/New_York")


@pytest.mark.browser
def test_patient_asks_for_housing_help_and_follows_it(phone, check):
    page = phone
    sign_in_patient(page, "patient2@demo.test")
    page.get_by_role("link", name="Get help with a ride or housing").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Get help")
    check(page, "get help")
    page.get_by_role("link", name="Ask for help with housing").click()
    check(page, "housing form")
    page.get_by_role("button", name="Send my request").click()
    expect(page.get_by_role("alert")).to_contain_text("Some answers need a fix")
    check(page, "housing form with errors")
    page.get_by_label("I may lose my place soon").check()
    page.get_by_label("This week").check()
    page.get_by_label("What would help?").fill("Help with a deposit for a new room.")
    page.get_by_role("button", name="Send my request").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Help with housing")
    expect(page.get_by_text("Your request was sent")).to_be_visible()
    check(page, "my request")
    page.get_by_label("Add something to your request").fill("I can move on the 1st.")
    page.get_by_role("button", name="Add it").click()
    expect(page.get_by_text("I can move on the 1st.")).to_be_visible()
    page.get_by_role("link", name="All my requests").click()
    check(page, "my requests")


@pytest.mark.browser
def test_patient_asks_for_a_ride_with_javascript_off(browser, base_url):
    # axe needs JavaScript, so this context is not watched by `check`; the same pages
    # are checked with JavaScript on in the other tests.
    context = browser.new_context(
        base_url=base_url, **{**PHONE, "java_script_enabled": False}
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in_patient(page)
        page.goto("/help")
        page.get_by_role("link", name="Ask for a ride").click()
        day = (datetime.now(DEMO_TZ) + timedelta(days=4)).date().isoformat()
        page.get_by_label("What day do you need the ride?").fill(day)
        page.get_by_label("What time do you need to be picked up?").fill("08:30")
        page.get_by_label("Where should we pick you up?").fill("418 Maple Avenue")
        page.get_by_label("Where are you going?").fill("The program")
        page.get_by_label("I use a wheelchair").check()
        page.get_by_role("button", name="Send my request").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("A ride")
        expect(page.get_by_text("Sent. We will get back to you soon.")).to_be_visible()
    finally:
        context.close()


@pytest.mark.browser
def test_case_manager_takes_and_answers_a_request(phone, check):
    page = phone
    sign_in_staff(page, "casemanager@demo.test")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Requests"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Requests for help")
    check(page, "triage queue")
    page.get_by_role("link", name=re.compile(r"Nobody has it")).click()
    expect(page.get_by_role("button", name="Take it").first).to_be_visible()
    page.get_by_role("button", name="Take it").first.click()
    expect(page.get_by_text("This request is yours now.")).to_be_visible()
    check(page, "one request")
    page.get_by_label("Status").select_option("accepted")
    page.get_by_label("Note (optional)").fill("Food bank pickup is ready for you.")
    page.get_by_label("The patient can read this note").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("Food bank pickup")
    page.get_by_role("link", name="Back to the queue").click()
    page.get_by_role("link", name="My time away").click()
    check(page, "time away")


@pytest.mark.browser
def test_director_reads_response_times_and_targets(phone, check):
    page = phone
    sign_in_staff(page, "director@demo.test")
    page.goto("/staff/needs/report")  # moved to the board's Requests section
    expect(page.get_by_role("heading", level=1)).to_contain_text("Director's board")
    expect(page.locator("#figure-requests")).to_be_visible()
    page.goto("/staff/needs/settings")
    check(page, "response targets")
    page.get_by_role("button", name="Save targets").click()
    expect(page.get_by_text("Saved. New requests use these times.")).to_be_visible()
