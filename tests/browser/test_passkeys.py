"""Passkeys in Chromium with its virtual authenticator (the DevTools protocol's
WebAuthn domain): a patient adds one on the account page and then signs in with it
alone; a nurse uses one instead of the 6-digit code; a passkey whose counter went
back (a copy) is refused with the plain message. The pages are opened at
http://localhost:<port>, since the demo's relying party id is localhost."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import enter_demo_code, fill_sign_in

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect

AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


@pytest.fixture
def localhost(new_phone, server):
    """A phone context at http://localhost:<port>, with a virtual authenticator."""

    def open_phone():
        url = server["url"].replace("127.0.0.1", "localhost")
        page = new_phone(base_url=url).new_page()
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        made = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
        return page, cdp, made["authenticatorId"]

    return open_phone


def _add_passkey(page, check, name: str) -> None:
    page.goto("/account")
    check(page, f"account page with passkeys ({name})")
    page.get_by_role("button", name="Add a passkey on this phone").click()
    expect(page.get_by_role("status").first).to_contain_text("Your passkey is saved")
    expect(page.locator("main")).to_contain_text("Passkey 1: Added")
    check(page, f"account page with a passkey ({name})")


def _sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/sign-in"))


@pytest.mark.browser
def test_a_patient_adds_a_passkey_and_signs_in_with_it_alone(localhost, check):
    page, _cdp, _id = localhost()
    page.goto("/sign-in")
    fill_sign_in(page, "patient2@demo.test")
    page.wait_for_url(re.compile(r"/$"))
    _add_passkey(page, check, "patient")
    _sign_out(page)

    check(page, "sign-in page with the passkey button")
    page.get_by_role("button", name="Use a passkey instead").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today")


@pytest.mark.browser
def test_a_copied_passkey_with_its_counter_gone_back_is_refused(localhost, check):
    page, cdp, authenticator = localhost()
    page.goto("/sign-in")
    fill_sign_in(page, "patient3@demo.test")
    page.wait_for_url(re.compile(r"/$"))
    _add_passkey(page, check, "a copy")
    _sign_out(page)
    page.get_by_role("button", name="Use a passkey instead").click()
    page.wait_for_url(re.compile(r"/$"))
    _sign_out(page)

    (credential,) = cdp.send(
        "WebAuthn.getCredentials", {"authenticatorId": authenticator}
    )["credentials"]
    assert credential["signCount"] >= 1
    cdp.send(
        "WebAuthn.removeCredential",
        {"authenticatorId": authenticator, "credentialId": credential["credentialId"]},
    )
    cdp.send(
        "WebAuthn.addCredential",
        {
            "authenticatorId": authenticator,
            "credential": {**credential, "signCount": 0},
        },
    )
    page.get_by_role("button", name="Use a passkey instead").click()
    expect(page.locator("#passkey-status")).to_have_text(
        "That passkey did not work. Try again, or sign in with your password."
    )
    expect(page).to_have_url(re.compile(r"/sign-in"))
    check(page, "sign-in page with a refused passkey")


@pytest.mark.browser
def test_a_nurse_uses_a_passkey_instead_of_the_code(localhost, check):
    page, _cdp, _id = localhost()
    page.goto("/sign-in")
    fill_sign_in(page, "nurse@demo.test")
    page.wait_for_url("**/sign-in/code")
    enter_demo_code(page)
    page.wait_for_url(re.compile(r"/staff"))
    _add_passkey(page, check, "nurse")
    _sign_out(page)

    fill_sign_in(page, "nurse@demo.test")
    page.wait_for_url("**/sign-in/code")
    check(page, "code page with the passkey button")
    page.get_by_role("button", name="Use my passkey instead").click()
    page.wait_for_url(re.compile(r"/staff$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
