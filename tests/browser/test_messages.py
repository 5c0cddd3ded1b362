"""A conversation between two signed-in people on two phones: the patient writes, the
peer specialist sees it in the inbox and answers, and each side sees the other's new
message within seconds, through the "anything new?" check (304 while nothing changes).
"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import sign_in_patient, sign_in_staff

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect

FEW_SECONDS = 12_000  # the check runs every 5 s; allow for a slow machine


def _watch_updates(page) -> list[int]:
    """Status codes of the page's "anything new?" requests."""
    statuses: list[int] = []

    def note(response) -> None:
        if "/updates" in response.url:
            statuses.append(response.status)

    page.on("response", note)
    return statuses


@pytest.mark.browser
def test_patient_and_peer_talk_and_see_each_other_within_seconds(new_phone, check):
    patient = new_phone().new_page()
    sign_in_patient(patient)
    nav = patient.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name=re.compile(r"^Messages")).click()
    expect(patient.get_by_role("heading", level=1)).to_have_text("Messages")
    expect(patient.locator(".who-reads")).to_contain_text("Alex Morgan")
    # Before sending: when a reply is likely (or, after hours, where to go now).
    expect(patient.locator(".outlook, .after-hours")).to_be_visible()
    check(patient, "patient conversation")
    patient_updates = _watch_updates(patient)

    words = f"Hello from the browser test {int(time.time())}"
    patient.get_by_label("Your message").fill(words)
    patient.get_by_role("button", name="Send").click()
    expect(patient.locator(".msg.mine").last).to_contain_text(words)
    expect(patient.get_by_label("Your message")).to_have_value("")

    peer = new_phone().new_page()
    sign_in_staff(peer, "peer@demo.test")
    peer.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile(r"^Messages")
    ).click()
    # Unanswered first, longest wait first: the demo's Casey has waited for hours.
    rows = peer.locator(".inbox-row")
    jordan = rows.filter(has_text="Jordan Rivera")
    expect(jordan).to_contain_text("Waiting")
    expect(rows.first).to_contain_text("Casey Nguyen")
    expect(rows.last).not_to_contain_text("Waiting")
    check(peer, "peer inbox")
    jordan.get_by_role("link").click()
    expect(peer.get_by_role("heading", level=1)).to_have_text(
        "Messages with Jordan Rivera"
    )
    expect(peer.locator(".msg.theirs").last).to_contain_text(words)
    check(peer, "peer conversation")
    peer_updates = _watch_updates(peer)

    # The patient sees "Seen" without reloading, then the peer's answer.
    expect(patient.locator("#seen-note")).to_have_text("Seen", timeout=FEW_SECONDS)
    answer = "Thanks for writing. I am here. <b>not bold</b>"
    peer.get_by_label("Your message").fill(answer)
    peer.get_by_role("button", name="Send").click()
    expect(peer.locator(".msg.mine").last).to_contain_text(answer)
    expect(patient.locator(".msg.theirs").last).to_contain_text(
        answer, timeout=FEW_SECONDS
    )
    assert patient.locator(".msg.theirs b").count() == 0  # shown as text

    # And back again: the peer's open page gets the patient's reply by itself.
    reply = "Good to hear from you."
    patient.get_by_label("Your message").fill(reply)
    patient.get_by_role("button", name="Send").click()
    expect(peer.locator(".msg.theirs").last).to_contain_text(reply, timeout=FEW_SECONDS)

    # While nothing changes, the check is answered 304 (a cheap "no").
    patient.wait_for_timeout(11_000)
    assert 304 in patient_updates, patient_updates
    assert 304 in peer_updates or 200 in peer_updates, peer_updates
    assert all(status in (200, 304) for status in patient_updates + peer_updates)
    check(patient, "patient conversation after replies")


@pytest.mark.browser
def test_sharing_away_and_phrase_pages_pass_checks(new_phone, check):
    patient = new_phone().new_page()
    sign_in_patient(patient)
    patient.goto("/messages/sharing")
    expect(patient.get_by_role("heading", level=1)).to_have_text(
        "Who can read your messages"
    )
    check(patient, "sharing")

    peer = new_phone().new_page()
    sign_in_staff(peer, "peer@demo.test")
    peer.goto("/messages/away")
    check(peer, "away")
    peer.get_by_label("I am away").check()
    peer.get_by_label("Who covers your patients' messages?").select_option(
        label="Nia Okafor"
    )
    peer.get_by_role("button", name="Save").click()
    expect(peer.locator(".who-reads")).to_contain_text("You are away.")
    patient.goto("/messages")
    expect(patient.locator(".who-reads")).to_contain_text("Nia Okafor is covering")
    peer.get_by_role("link", name="I am back").click()
    peer.get_by_label("I am here").check()
    peer.get_by_role("button", name="Save").click()
    expect(peer.get_by_role("link", name="Set yourself away")).to_be_visible()

    therapist = new_phone().new_page()
    sign_in_staff(therapist, "therapist@demo.test")
    therapist.goto("/staff/messages/phrases")
    expect(therapist.get_by_label("Crisis phrases, one per line")).to_contain_text(
        "kill myself"
    )
    check(therapist, "crisis phrases")
