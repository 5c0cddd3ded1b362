"""Admin enrolls a patient and hands over a one-time code; the new patient sets a
password with it on their own phone and signs in."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import fill_sign_in, sign_in_staff

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect

DEMO_TZ = ZoneInfo("America/New_York")  # the demo program's timezone
NEW_PASSWORD = "blue kettle on the stove"


def _enroll(page, check, name: str, email: str) -> str:
    """Submit the enroll form empty (and check it), then filled; return the code."""
    page.get_by_role("button", name="Enroll and make a code").click()
    expect(page.locator(".error").first).to_be_visible()
    check(page, "enroll form with errors")

    page.get_by_label("Legal name").fill(name)
    page.get_by_label("Date of birth").fill("1990-04-02")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Track").select_option(label="IOP Mornings (IOP)")
    page.get_by_label("Admission date").fill(f"{datetime.now(DEMO_TZ):%Y-%m-%d}")
    page.get_by_label("Therapist").select_option(label="Dana Brooks")
    page.get_by_label("Peer specialist").select_option(label="Alex Morgan")
    page.get_by_role("button", name="Enroll and make a code").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"One-time code for {name}"
    )
    check(page, "code issued")
    return page.locator(".code-display strong").inner_text().strip()


@pytest.mark.browser
def test_admin_enrolls_a_patient_who_sets_a_password_and_signs_in(new_phone, check):
    page = new_phone().new_page()
    sign_in_staff(page, "admin@demo.test", check=check)
    expect(page).to_have_url(re.compile(r"/admin/patients$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Enrolled patients")
    check(page, "admin patients")

    page.get_by_role("link", name="Enroll a patient").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enroll a patient")
    check(page, "enroll form")
    name = "Robin Testcase"
    email = f"new-{secrets.token_hex(4)}@example.org"
    code = _enroll(page, check, name, email)
    assert re.fullmatch(r"[A-Z0-9]{4,}-[A-Z0-9]{4,}", code), code

    page.get_by_role("link", name="Back to patients").click()
    expect(page.get_by_role("table")).to_contain_text(name)

    # The prescriber is not on the new patient's team: the program directory lists
    # them, and opening them takes a recorded reason.
    staff = new_phone().new_page()
    sign_in_staff(staff, "prescriber@demo.test")
    staff.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Program"
    ).click()
    expect(staff).to_have_url(re.compile(r"/staff/directory$"))
    expect(staff.locator("main")).to_contain_text(name)
    check(staff, "program directory with a patient")
    staff.get_by_role("link", name=f"Open with a reason for {name}").click()
    staff.get_by_label("Why do you need to see this patient?").fill(
        "Covering medication questions while the nurse is away."
    )
    staff.get_by_role("button", name="Record reason and open").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text(name)
    check(staff, "patient page opened with a reason")

    # The new patient, on their own phone.
    own = new_phone().new_page()
    own.goto("/sign-in")
    own.get_by_role("link", name="I forgot my password").click()
    expect(own.get_by_role("heading", level=1)).to_have_text("Forgot your password?")
    check(own, "forgot password")
    own.get_by_role("link", name="Back to sign in").click()
    own.get_by_role("link", name="I have a code from the program").click()
    expect(own).to_have_url(re.compile(r"/set-password$"))
    check(own, "set password")

    own.get_by_role("button", name="Set password").click()
    expect(own.locator(".error").first).to_be_visible()
    check(own, "set password with errors")
    own.get_by_label("Email").fill(email)
    own.get_by_label("Code from the program staff").fill(code)
    own.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    own.get_by_label("New password again").fill(NEW_PASSWORD)
    own.get_by_role("button", name="Set password").click()
    expect(own.get_by_role("status")).to_contain_text("Your password is set")
    check(own, "sign-in after setting a password")

    fill_sign_in(own, email, NEW_PASSWORD)
    # The first sign-in opens the welcome, once.
    expect(own).to_have_url(re.compile(r"/welcome$"))
    expect(
        own.get_by_role("heading", level=2, name="1. Put it on your home screen")
    ).to_be_visible()
    check(own, "first sign-in welcome")
    own.get_by_role("link", name="Go to my day").click()
    expect(own).to_have_url(re.compile(r"/$"))
    expect(own.get_by_role("heading", level=1)).to_contain_text("Today")
    expect(own.get_by_role("link", name="Crisis help")).to_be_visible()
