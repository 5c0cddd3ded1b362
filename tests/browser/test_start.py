"""Starting and ending well, in the browser: a patient with no email signs in with
her mobile number and gets the welcome once, in Spanish, the language she chose; a
therapist discharges a patient with an aftercare plan, and the patient's Today then
shows it; the demo's alumnus sees the same. Every page passes axe, 320 px reflow, tap
targets and the CSP."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import fill_sign_in, sign_in_patient, sign_in_staff

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect


@pytest.mark.browser
def test_a_patient_without_email_signs_in_with_her_phone_and_is_welcomed(phone, check):
    phone.goto("/sign-in")
    check(phone, "sign-in page")
    fill_sign_in(phone, "(617) 555-0142")
    # The demo's phone-only patient reads the portal in Spanish (her account's choice).
    expect(phone).to_have_url(re.compile(r"/welcome$"))
    expect(phone.locator("html")).to_have_attribute("lang", "es")
    expect(phone.get_by_role("heading", level=1)).to_contain_text("bienvenida")
    main = phone.locator("main")
    expect(main).to_contain_text("Agregar a inicio")
    expect(
        main.get_by_role("link", name="Vea con quién se comparte su expediente")
    ).to_be_visible()
    check(phone, "welcome")
    phone.get_by_role("link", name="Ir a mi día").click()
    expect(phone).to_have_url(re.compile(r"/$"))
    phone.get_by_role("navigation", name="Principal").get_by_role(
        "link", name="Cuenta"
    ).click()
    phone.get_by_role("link", name=re.compile("Ver otra vez la bienvenida")).click()
    expect(phone).to_have_url(re.compile(r"/welcome$"))


@pytest.mark.browser
def test_the_demo_alumnus_sees_the_program_ended_with_the_plan(phone, check):
    sign_in_patient(phone, "patient11@demo.test")
    main = phone.locator("main")
    expect(phone.get_by_role("heading", level=1)).to_contain_text(
        "Your program ended on"
    )
    expect(main).to_contain_text("Riverside Outpatient Clinic")
    expect(
        main.get_by_role("link", name="Message your peer specialist")
    ).to_be_visible()
    check(phone, "program ended with the aftercare plan")
    phone.goto("/week")
    expect(phone.get_by_role("heading", level=1)).to_contain_text(
        "Your program ended on"
    )


@pytest.mark.browser
def test_a_therapist_discharges_a_patient_who_then_sees_the_plan(new_phone, check):
    staff = new_phone().new_page()
    sign_in_staff(staff, "therapist@demo.test")
    staff.get_by_role("link", name="Quinn Baker").first.click()
    staff.get_by_role("link", name="Discharge").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text("Discharge Quinn Baker")
    check(staff, "discharge form")
    staff.get_by_label("Next appointments").fill("")
    staff.get_by_role("button", name="Discharge and save the aftercare plan").click()
    expect(staff.locator(".error").first).to_contain_text("Write the next appointments")
    check(staff, "discharge form with an error")
    staff.get_by_label("Next appointments").fill(
        "Dr. Ames, Riverside Outpatient Clinic, Tuesday at 10 AM."
    )
    staff.get_by_role("button", name="Discharge and save the aftercare plan").click()
    expect(staff.get_by_role("status").first).to_contain_text("is discharged")
    expect(staff.locator("main")).to_contain_text("step-down")
    check(staff, "patient page after discharge")

    patient = new_phone().new_page()
    sign_in_patient(patient, "patient9@demo.test")
    expect(patient.get_by_role("heading", level=1)).to_contain_text(
        "Your program ended on"
    )
    expect(patient.locator("main")).to_contain_text("Dr. Ames")
