"""A patient on a phone: sign in, today, the week, the account and calendar pages,
crisis help, and nothing left behind in browser storage."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import fill_sign_in

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect

DEMO_TZ = ZoneInfo("America/New_York")  # the demo program's timezone


@pytest.mark.browser
def test_patient_signs_in_sees_today_the_week_and_crisis_help(phone, check):
    page = phone
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    check(page, "sign-in")

    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".error").first).to_be_visible()
    check(page, "sign-in with errors")

    fill_sign_in(page, "patient@demo.test")
    today = datetime.now(DEMO_TZ)
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(f"Today, {today:%A, %B} {today.day}")
    if today.weekday() < 5:  # the demo patient's PHP track meets Monday to Friday
        expect(page.locator(".schedule")).to_contain_text("Coping skills (DBT)")
    expect(page.get_by_role("link", name="Crisis help")).to_be_visible()
    expect(page.locator(".help-box")).to_contain_text("988")
    check(page, "today")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Week").click()
    expect(page).to_have_url(re.compile(r"/week$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Week of")
    expect(page.locator(".day.is-today")).to_contain_text("Today")
    check(page, "week")

    page.get_by_role("link", name="Next week").click()
    expect(page).to_have_url(re.compile(r"start="))
    check(page, "next week")

    page.get_by_role("link", name="Crisis help").click()
    expect(page).to_have_url(re.compile(r"/crisis$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Help right now")
    expect(page.locator('a[href="tel:988"]').first).to_be_visible()
    expect(page.locator('a[href="tel:911"]').first).to_be_visible()
    check(page, "crisis")


@pytest.mark.browser
def test_patient_account_calendar_and_missing_page_pass_checks(phone, check):
    page = phone
    page.goto("/sign-in")
    fill_sign_in(page, "patient2@demo.test")
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    check(page, "account")

    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".error").first).to_be_visible()
    check(page, "account with errors")

    page.get_by_role("link", name="Add your schedule to your phone calendar").click()
    expect(page).to_have_url(re.compile(r"/calendar$"))
    check(page, "calendar")
    page.get_by_role("button", name="Make my calendar link").click()
    expect(page.get_by_label("Calendar link")).to_have_value(re.compile(r"\.ics$"))
    check(page, "calendar with a new link")

    response = page.goto("/no-such-page")
    assert response is not None and response.status == 404
    check(page, "404")

    page.goto("/")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    check(page, "signed out")


@pytest.mark.browser
def test_browsing_as_a_patient_leaves_nothing_in_browser_storage(phone):
    page = phone
    page.goto("/sign-in")
    fill_sign_in(page, "patient@demo.test")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Week").click()
    expect(page).to_have_url(re.compile(r"/week$"))
    page.get_by_role("link", name="Last week").click()
    expect(page).to_have_url(re.compile(r"start="))
    # Back through htmx's history: with its cache off it reloads from the server.
    page.evaluate("history.back()")
    expect(page).to_have_url(re.compile(r"/week$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Week of")
    page.evaluate("history.back()")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today")
    nav.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    nav.get_by_role("link", name="Today").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today")

    # htmx boosted the links above (so its history cache had its chance to write).
    assert page.evaluate("document.body.hasAttribute('data-hx-boost')")
    stored = page.evaluate(
        """() => ({
            local: Object.keys(localStorage),
            session: Object.keys(sessionStorage),
        })"""
    )
    assert stored == {"local": [], "session": []}
