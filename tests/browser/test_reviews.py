"""Utilization review on a phone: the director's worklist, the review packet and a
saved packet; admin staff's coverage page. Every page passes the checks of
tests/browser/checks.py (axe, reflow at 320 px, tap targets, CSP)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in_staff

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect


@pytest.mark.browser
def test_director_works_the_review_worklist_and_opens_the_packet(phone, check):
    page = phone
    sign_in_staff(page, "director@demo.test")
    page.get_by_role("link", name="Reviews").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Authorizations and reviews"
    )
    expect(page.get_by_text("2 authorized days left")).to_be_visible()
    expect(page.get_by_text("Review due tomorrow")).to_be_visible()
    expect(page.get_by_text("Casey Nguyen")).to_be_visible()
    check(page, "review worklist")

    page.get_by_role("link", name="Packet for Jordan Rivera").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Review packet: Jordan Rivera"
    )
    expect(page.get_by_text("Signed by Dr. Lee Park").first).to_be_visible()
    check(page, "review packet")

    page.locator("a[href^='/reviews/packets/']").first.click()
    expect(
        page.get_by_role("button", name="Send to Blue Harbor Health")
    ).to_be_visible()
    check(page, "saved review packet")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the PDF").click()
    assert download.value.suggested_filename.endswith(".pdf")

    page.get_by_role("button", name="Send to Blue Harbor Health").click()
    expect(page.get_by_text("Sent to Blue Harbor Health on")).to_be_visible()
    check(page, "packet sent")


@pytest.mark.browser
def test_admin_keeps_coverage_without_clinical_content(phone, check):
    page = phone
    sign_in_staff(page, "admin@demo.test")
    page.get_by_role(
        "link", name="Coverage and authorizations of Jordan Rivera"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Coverage of Jordan Rivera"
    )
    expect(page.get_by_role("rowheader", name="BHH-PA-88213")).to_be_visible()
    check(page, "coverage page")
    page.get_by_role("link", name="Add an authorization").click()
    page.get_by_label("Payer's reference number").fill("BHH-PA-99")
    page.get_by_label("Service code").select_option("H0035")
    page.get_by_label("Days authorized").fill("-1")
    page.get_by_label("First day", exact=True).fill("2026-01-10")
    page.get_by_label("Last day", exact=True).fill("2026-01-05")
    page.get_by_role("button", name="Save the authorization").click()
    expect(
        page.get_by_text("The last day cannot be before the first day.")
    ).to_be_visible()
    check(page, "authorization refused")
