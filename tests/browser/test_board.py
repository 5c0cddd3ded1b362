"""The director on a phone: the board (all programs, one program, 4 and 52 weeks, a
table opened, a CSV downloaded) and the audit report (the chain's state, a filter, a
patient's rows). Every page passes the shared checks (axe, 320 px reflow, 44 px
targets, CSP)."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import sign_in_staff

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect


@pytest.mark.browser
def test_director_reads_the_board_and_downloads_a_figure(phone, check):
    page = phone
    sign_in_staff(page, "director@demo.test")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Board"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Director's board: Riverside Day Program"
    )
    check(page, "board, 13 weeks")
    # the demo's half year of history makes every picture show something
    for chart in (
        "ch-census",
        "ch-attendance",
        "ch-checkins",
        "ch-outcomes",
        "ch-peer",
    ):
        expect(page.locator(f"svg[aria-labelledby^='{chart}-t']")).to_have_count(1)
    page.locator("#figure-outcomes summary").click()
    outcomes = page.locator("table[data-figure='outcomes']")
    expect(outcomes).to_contain_text("PHQ-9")
    check(page, "board with a table open")

    page.get_by_role("navigation", name="Period").get_by_role(
        "link", name="52 weeks"
    ).click()
    expect(page).to_have_url(re.compile(r"weeks=52"))
    check(page, "board, 52 weeks")

    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download “Peer support”")).click()
    assert re.fullmatch(
        r"peer-52-weeks-\d{4}-\d\d-\d\d\.csv", download.value.suggested_filename
    )


@pytest.mark.browser
def test_director_reads_the_audit_report_and_filters_it(phone, check):
    page = phone
    sign_in_staff(page, "director@demo.test")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Audit"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit report")
    expect(page.get_by_role("status")).to_contain_text("Audit chain intact")
    check(page, "audit report")

    page.get_by_label("What they did").select_option("changed")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"what=changed"))
    check(page, "audit report, changes only")

    page.locator("table a").first.click()
    expect(page.get_by_text("Show every patient")).to_be_visible()
    check(page, "audit report, one patient")

    page.goto("/staff/audit?since=not-a-day")
    expect(page.locator(".error")).to_have_text("Not a valid date value.")
    check(page, "audit report with a mistake")
