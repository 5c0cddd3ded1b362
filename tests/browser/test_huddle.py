"""The morning huddle on a phone: the nurse's home starts with her part of it, the
huddle lists the demo's patient at risk first, the one who stopped checking in, the
overdue ride and the authorization running out; a note saved through htmx, an action
with mistakes sent back; printed, 30 patients fit on one page; the peer's view holds
no score. Every page passes the shared checks (axe, 320 px reflow, 44 px targets,
CSP)."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import sign_in_staff

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect

# Rows a printed huddle must hold on one page.
PRINTED_ROWS = 30


@pytest.mark.browser
def test_the_nurse_runs_the_huddle_from_her_phone(phone, check):
    page = phone
    sign_in_staff(page, "nurse@demo.test")
    part = page.locator(".home-huddle")
    expect(part).to_contain_text("Riley Chen")
    expect(part).to_contain_text("Open risk flag (acknowledged)")
    check(page, "nurse's home with her part of the huddle")

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Huddle"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Morning huddle: Riverside Day Program"
    )
    # Riley's alert puts her among the first rows (other browser tests of this
    # session may have raised alerts of their own, which also come first)
    riley = page.locator(".huddle-table tbody > tr", has_text="Riley Chen")
    expect(riley).to_contain_text("Open risk flag")
    expect(riley).to_contain_text("PHQ-9 up from")
    expect(riley).to_contain_text("Safety plan reviewed by phone")
    expect(page.locator("tr", has_text="Quinn Baker")).to_contain_text(
        "No check-in for 2 program days"
    )
    kai = page.locator("tr", has_text="Kai Romero")
    expect(kai).to_contain_text("Ride request overdue")
    expect(kai).to_contain_text("Priya Shah to call about the ride by 11:00 AM")
    jordan = page.locator("tr", has_text="Jordan Rivera")
    expect(jordan).to_contain_text("2 authorized days left")
    check(page, "huddle")

    jordan.get_by_text("Add a note or an action").click()
    jordan.get_by_label("Huddle note").fill("Asked about the review; packet is signed.")
    jordan.get_by_role("button", name="Save the note").click()
    expect(jordan).to_contain_text("Maria Lopez,")
    expect(jordan).to_contain_text("packet is signed")
    jordan.get_by_text("Add a note or an action").click()
    jordan.get_by_label("What to do").fill("send the review packet")
    jordan.get_by_role("button", name="Save the action").click()
    expect(jordan.locator(".error").first).to_have_text("Choose who does it.")
    check(page, "huddle with an action sent back")
    jordan.get_by_label("Who does it").select_option(label="Dana Brooks")
    jordan.get_by_label("Due by").fill("14:30")
    jordan.get_by_role("button", name="Save the action").click()
    expect(jordan).to_contain_text("Dana Brooks to send the review packet by 2:30 PM")

    # Without JavaScript the same forms are a page of their own.
    page.goto(jordan.locator("a.add-followup").get_attribute("href"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Huddle: Jordan Rivera")
    check(page, "one patient's huddle notes and actions")


@pytest.mark.browser
def test_thirty_patients_print_on_one_page(phone):
    page = phone
    sign_in_staff(page, "therapist@demo.test")
    page.goto("/staff/huddle")
    expect(page.locator(".huddle-table tbody > tr", has_text="Riley")).to_have_count(1)
    # The demo has fewer patients than a big morning: repeat its rows without notes
    # or actions up to 30 (the ones with them stay, as on a real morning).
    page.evaluate(
        """(n) => {
          const body = document.querySelector('.huddle-table tbody');
          const plain = [...body.children].filter(
            (r) => !r.querySelector('.huddle-note, .huddle-actions'));
          for (let i = 0; body.children.length < n; i++) {
            body.appendChild(plain[i % plain.length].cloneNode(true));
          }
        }""",
        PRINTED_ROWS,
    )
    page.emulate_media(media="print")
    pdf = page.pdf(format="Letter", print_background=False)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages == 1, f"{PRINTED_ROWS} patients printed on {pages} pages"


@pytest.mark.browser
def test_the_peer_sees_who_needs_attention_without_a_score(phone, check):
    page = phone
    sign_in_staff(page, "peer@demo.test")
    expect(page.locator(".home-huddle")).to_contain_text("a clinician is on it")
    page.goto("/staff/huddle")
    main = page.locator("main")
    expect(page.locator("tr", has_text="Riley Chen")).to_contain_text(
        "a clinician is on it"
    )
    expect(page.locator("tr", has_text="Kai Romero")).to_contain_text(
        "Ride request overdue"
    )
    # ("check-in" alone is in a group's name: "Morning check-in group")
    for words in ("PHQ-9", "feel safe", "Safety plan reviewed", "No check-in"):
        expect(main).not_to_contain_text(words)
    check(page, "huddle, as a peer specialist")
