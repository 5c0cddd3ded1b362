"""The check-in, the questionnaires and the crisis loop on a phone: crisis help shown by
the page itself the moment a risk answer is chosen (with and without JavaScript), a
positive check-in reaching the on-call nurse who takes it to the end, and a check-in
sent with no signal that is kept on the phone, sent once when the signal returns, and
leaves nothing readable behind."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import sign_in_patient, sign_in_staff

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect

DEMO_TZ = ZoneInfo("America/New_York")  # the demo program's timezone
NURSE = "nurse@demo.test"  # on call for risk in the demo program
PATIENT, PATIENT_NAME = "patient@demo.test", "Jordan Rivera"
PATIENT2, PATIENT2_NAME = "patient2@demo.test", "Casey Nguyen"
PATIENT3 = "patient5@demo.test"

PHQ9_ITEM9 = re.compile(r"better off dead")
PHQ9_ANSWERS = (
    "Not at all",
    "Several days",
    "More than half the days",
    "Nearly every day",
)
CSSRS_QUESTIONS = (
    "Have you wished you were dead",
    "Have you actually had any thoughts about killing yourself?",
    "Have you thought about how you might do this?",
    "Have you had any intention of acting on these thoughts",
    "Have you started to work out or worked out the details",
    "Have you done anything, started to do anything, or prepared",
)


# ---- helpers -------------------------------------------------------------------------


def _question(page, text):
    """A question's fieldset, found by its legend as a screen reader would."""
    name = text if isinstance(text, re.Pattern) else re.compile("^" + re.escape(text))
    return page.get_by_role("group", name=name)


def _nav(page, name: str) -> None:
    """Tap a link of the main navigation (an hx-boost navigation)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def _choose(page, question, answer: str) -> None:
    _question(page, question).get_by_label(answer, exact=True).check()


def _fill_checkin(page, feels_safe: str, note: str | None = None) -> None:
    _choose(page, "How is your mood right now?", "4")
    _choose(page, "How strong are your cravings?", "6")
    page.get_by_label("How many hours did you sleep last night?").fill("5.5")
    _choose(page, "Did you take your medicine as prescribed?", "Yes")
    _choose(page, "Do you feel safe right now?", feels_safe)
    if note:
        page.get_by_label(re.compile("^Anything else you want your team")).fill(note)


def _expect_crisis_help(panel) -> None:
    """The panel is on screen with its ways to reach a person now."""
    expect(panel).to_be_visible()
    assert panel.is_visible()
    for href in ("tel:988", "sms:988", "tel:911"):
        expect(panel.locator(f'a[href="{href}"]')).to_be_visible()
    expect(
        panel.get_by_role("link", name=re.compile("988lifeline.org"))
    ).to_be_visible()
    expect(panel).to_contain_text("not watched around the clock")


def _expect_no_crisis_help(panel) -> None:
    expect(panel).to_be_hidden()
    assert not panel.is_visible()


def _requests_sent(page, method: str = "POST"):
    """Record every request of `method` the page sends (to prove nothing is sent)."""
    sent = []
    page.on("request", lambda r: sent.append(r.url) if r.method == method else None)
    return sent


# ---- 1. crisis help on the page, the moment a risk answer is chosen ------------------


@pytest.mark.browser
def test_checkin_shows_crisis_help_the_moment_not_safe_is_chosen(phone, check):
    page = phone
    sign_in_patient(page, PATIENT2)
    # Tapped from Today, as a patient would: an hx-boost navigation that swaps only the
    # body, so the page must bring its own stylesheet there.
    page.get_by_role("link", name="Do my daily check-in").click()
    expect(page).to_have_url(re.compile(r"/check-in$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Daily check-in")
    panel = page.locator("#crisis-panel")
    _expect_no_crisis_help(panel)
    _choose(page, "Do you feel safe right now?", "No")
    _expect_crisis_help(panel)
    _choose(page, "Do you feel safe right now?", "Yes")
    _expect_no_crisis_help(panel)

    page.goto("/check-in")
    _expect_no_crisis_help(panel)
    check(page, "check-in")

    page.get_by_role("button", name="Send my check-in").click()
    expect(page.get_by_role("alert")).to_contain_text("Some answers need a fix")
    expect(_question(page, "How is your mood right now?")).to_contain_text(
        "Choose a number for your mood."
    )
    expect(
        page.get_by_label("How many hours did you sleep last night?")
    ).to_have_attribute("aria-invalid", "true")
    _expect_no_crisis_help(panel)
    check(page, "check-in with errors")

    posts = _requests_sent(page)
    _choose(page, "Do you feel safe right now?", "No")
    _expect_crisis_help(panel)
    expect(panel.get_by_role("link", name=re.compile("on-call line"))).to_be_visible()
    check(page, "check-in with crisis help shown")

    _choose(page, "Do you feel safe right now?", "Yes")
    _expect_no_crisis_help(panel)
    _choose(page, "Do you feel safe right now?", "No")
    _expect_crisis_help(panel)
    assert posts == [], "crisis help must not wait for the server"


@pytest.mark.browser
def test_phq9_item_9_above_zero_shows_crisis_help_and_zero_does_not(phone, check):
    page = phone
    sign_in_patient(page, PATIENT2)
    page.goto("/questions/a")
    expect(page.get_by_role("heading", level=1)).to_have_text("PHQ-9")
    panel = page.locator("#crisis-panel")
    check(page, "PHQ-9")
    posts = _requests_sent(page)

    # The worst answers to items 1 to 8 are not risk answers.
    for group in page.get_by_role("group").all()[:8]:
        group.get_by_label("Nearly every day", exact=True).check()
    _expect_no_crisis_help(panel)
    _choose(page, PHQ9_ITEM9, "Not at all")
    _expect_no_crisis_help(panel)

    for answer in PHQ9_ANSWERS[1:]:
        _choose(page, PHQ9_ITEM9, answer)
        _expect_crisis_help(panel)
        if answer == PHQ9_ANSWERS[1]:
            check(page, "PHQ-9 with crisis help shown")
        _choose(page, PHQ9_ITEM9, "Not at all")
        _expect_no_crisis_help(panel)
    assert posts == []

    page.goto("/questions/b")
    expect(page.get_by_role("heading", level=1)).to_have_text("GAD-7")
    check(page, "GAD-7")
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("alert")).to_contain_text("Some questions need an answer")
    check(page, "GAD-7 with errors")


@pytest.mark.browser
def test_cssrs_any_yes_shows_crisis_help_and_all_no_does_not(phone, check):
    page = phone
    sign_in_patient(page, PATIENT2)
    page.goto("/questions/c")
    expect(page.get_by_role("heading", level=1)).to_have_text("C-SSRS screener")
    panel = page.locator("#crisis-panel")
    check(page, "C-SSRS")
    posts = _requests_sent(page)

    for question in CSSRS_QUESTIONS:
        _choose(page, question, "No")
    _choose(page, "If YES, was it within the past 3 months?", "Yes")
    _expect_no_crisis_help(panel)

    for number, question in enumerate(CSSRS_QUESTIONS, start=1):
        _choose(page, question, "Yes")
        _expect_crisis_help(panel)
        if number == 1:
            check(page, "C-SSRS with crisis help shown")
        _choose(page, question, "No")
        _expect_no_crisis_help(panel)
    assert posts == []


@pytest.mark.browser
def test_crisis_help_shows_without_javascript(new_phone):
    page = new_phone(java_script_enabled=False).new_page()
    sign_in_patient(page, PATIENT2)

    page.goto("/check-in")
    panel = page.locator("#crisis-panel")
    _expect_no_crisis_help(panel)
    _choose(page, "Do you feel safe right now?", "No")
    _expect_crisis_help(panel)
    expect(panel).not_to_have_class(re.compile("is-shown"))  # CSS alone, no script
    _choose(page, "Do you feel safe right now?", "Yes")
    _expect_no_crisis_help(panel)

    page.goto("/questions/a")
    for answer in PHQ9_ANSWERS[1:]:
        _choose(page, PHQ9_ITEM9, answer)
        _expect_crisis_help(panel)
    _choose(page, PHQ9_ITEM9, "Not at all")
    _expect_no_crisis_help(panel)

    page.goto("/questions/c")
    for question in CSSRS_QUESTIONS:
        _choose(page, question, "Yes")
        _expect_crisis_help(panel)
        _choose(page, question, "No")
        _expect_no_crisis_help(panel)


# ---- 2. online: crisis help after sending, and the on-call nurse takes the alert -----


def _patient_id(database, email: str) -> str:
    return _query(database, "SELECT id FROM users WHERE email = ?", email)[0][0]


def _query(database, sql: str, *args) -> list[tuple]:
    """Read the demo server's database (read-only) for what the UI cannot count."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return conn.execute(sql, args).fetchall()


def _open_alert(page, patient_name: str, check=None):
    """From Alerts, the one alert for this patient."""
    _nav(page, "Alerts")
    expect(page).to_have_url(re.compile(r"/staff/flags$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Safety alerts")
    links = page.locator(".flag-list").get_by_role("link", name=patient_name)
    expect(links).to_have_count(1)
    if check:
        check(page, "alerts")
    links.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Safety alert: {patient_name}"
    )


def _fact(page, term: str):
    return page.locator(f'dt:text-is("{term}") + dd')


def _take_alert_to_the_end(page, check=None) -> None:
    """Acknowledge, assess and resolve the open alert on this page."""
    expect(_fact(page, "Status")).to_have_text("Open")
    page.get_by_role("button", name="I am taking this now").click()
    expect(_fact(page, "Status")).to_have_text("Acknowledged")
    if check:
        check(page, "alert acknowledged")
    page.get_by_role("button", name="Save assessment").click()
    # No risk level is chosen for the clinician: saving untouched is refused.
    expect(page.locator(".error").first).to_have_text(
        "Choose a risk level: low, moderate or high."
    )
    expect(page.locator(".error").nth(1)).to_have_text("Write the plan.")
    if check:
        check(page, "alert assessment with errors")
    page.get_by_label("Moderate", exact=True).check()
    page.get_by_label("Plan").fill(
        "Called the patient; safety plan reviewed; seen tomorrow."
    )
    page.get_by_role("button", name="Save assessment").click()
    expect(_fact(page, "Status")).to_have_text("Assessed")
    expect(_fact(page, "Risk level")).to_have_text("Moderate")
    if check:
        check(page, "alert assessed")
    page.get_by_label("How was this resolved?").fill(
        "Safe at home with family tonight."
    )
    page.get_by_role("button", name="Close the alert").click()
    expect(_fact(page, "Status")).to_have_text("Resolved")
    expect(page.get_by_role("button", name="I am taking this now")).to_have_count(0)


@pytest.mark.browser
def test_positive_checkin_online_shows_help_and_the_on_call_nurse_closes_the_alert(
    new_phone, check
):
    page = new_phone().new_page()
    sign_in_patient(page, PATIENT)
    page.get_by_role("link", name="My safety plan").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My safety plan")
    check(page, "safety plan")
    page.get_by_label("Warning signs that a crisis may be coming").fill(
        "Not sleeping, staying in my room"
    )
    page.get_by_role("button", name="Save my plan").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    check(page, "safety plan saved")

    _nav(page, "Today")
    page.get_by_role("link", name="My progress").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My progress")
    expect(page.locator("svg.chart").first).to_be_visible()
    expect(page.get_by_role("table").first).to_be_visible()
    check(page, "trends")

    _nav(page, "Today")
    page.get_by_role("link", name="Do my daily check-in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Daily check-in")
    # "No" alone, sent in a hurry: the other answers need a fix, crisis help stays on
    # screen, and the risk answer reaches a human anyway (the first of three below).
    _choose(page, "Do you feel safe right now?", "No")
    page.get_by_role("button", name="Send my check-in").click()
    expect(page.get_by_role("alert").first).to_contain_text("Some answers need a fix")
    expect(
        _question(page, "Do you feel safe right now?").get_by_label("No")
    ).to_be_checked()
    panel = page.locator("#crisis-panel")
    _expect_crisis_help(panel)
    check(page, "check-in with errors and crisis help")
    _fill_checkin(page, "No", note="Bad night.")
    _expect_crisis_help(panel)
    expect(panel).to_contain_text("Not sleeping, staying in my room")  # own plan
    page.get_by_role("button", name="Send my check-in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you. Your check-in is saved."
    )
    expect(page.get_by_role("status")).to_contain_text("We have told your care team")
    _expect_crisis_help(panel)
    expect(panel).to_contain_text("Not sleeping, staying in my room")
    check(page, "check-in saved with crisis help")

    # The C-SSRS screener offered after a risk answer: a third positive, same episode.
    # Question 3 is meant for a yes to question 2, but the page shows it, and a yes
    # there shows crisis help: the server must agree and not throw the yes away.
    page.get_by_role("link", name="Answer a few more questions for your team").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("C-SSRS screener")
    for number, question in enumerate(CSSRS_QUESTIONS, start=1):
        _choose(page, question, "Yes" if number == 3 else "No")
    _expect_crisis_help(panel)
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you. Your answers are saved."
    )
    _expect_crisis_help(panel)
    check(page, "C-SSRS saved with crisis help")

    page.get_by_role("link", name="Back to today").click()
    expect(page.locator(".todo")).to_contain_text("Your check-in for today is done.")
    # Opened again to change it: the saved "No" shows crisis help from the start.
    page.locator(".todo").get_by_role("link", name="Change it").click()
    expect(
        _question(page, "Do you feel safe right now?").get_by_label("No")
    ).to_be_checked()
    _expect_crisis_help(panel)

    nurse = new_phone().new_page()
    sign_in_staff(nurse, NURSE)
    expect(nurse.get_by_role("heading", level=1)).to_have_text("My patients")
    row = nurse.get_by_role("row").filter(has_text=PATIENT_NAME)
    expect(row.get_by_role("link", name="Safety alert: open")).to_be_visible()
    expect(row).to_contain_text("not safe")
    check(nurse, "staff caseload with an alert")

    _open_alert(nurse, PATIENT_NAME, check)
    expect(_fact(nurse, "From")).to_have_text("Daily check-in: does not feel safe")
    expect(_fact(nurse, "Risk answers in this episode")).to_have_text("3")
    # Told by two channels at least: the on-call nurse in opening hours, the after-hours
    # clinician otherwise (which depends on when the test runs).
    history = nurse.locator("ol.plain-list")
    expect(history).to_contain_text(
        re.compile(r"alerted — In the app and on their phone")
    )
    expect(history).to_contain_text(re.compile(r"alerted — Text message"))
    check(nurse, "alert")
    _take_alert_to_the_end(nurse, check)
    check(nurse, "alert resolved")
    _nav(nurse, "Alerts")
    expect(
        nurse.locator(".flag-list").get_by_role("link", name=PATIENT_NAME)
    ).to_have_count(0)

    _nav(nurse, "My patients")
    nurse.get_by_role("row").filter(has_text=PATIENT_NAME).get_by_role(
        "link", name=PATIENT_NAME
    ).click()
    expect(nurse.get_by_role("heading", level=1)).to_have_text(PATIENT_NAME)
    nurse.get_by_role("link", name="Check-ins and scores").click()
    expect(nurse.get_by_role("heading", level=1)).to_have_text(
        f"{PATIENT_NAME}: check-ins and scores"
    )
    today = datetime.now(DEMO_TZ)
    first_row = nurse.locator("table").first.locator("tbody tr").first
    expect(first_row).to_contain_text(f"{today:%b} {today.day}")
    expect(first_row.locator("td").last).to_have_text("No")
    check(nurse, "staff patient trends")
    nurse.go_back()
    nurse.get_by_role("link", name="Safety plan").click()
    expect(nurse.get_by_role("heading", level=1)).to_have_text(
        f"Safety plan: {PATIENT_NAME}"
    )
    expect(
        nurse.get_by_label("Warning signs that a crisis may be coming")
    ).to_have_value("Not sleeping, staying in my room")
    check(nurse, "staff patient safety plan")


# ---- 3 and 4. offline: kept on the phone, sent once, nothing left behind -------------

QUEUE_ITEMS_JS = """async () => {
    // Look without creating: opening a missing database would make an empty one.
    const names = (await indexedDB.databases()).map((d) => d.name);
    if (!names.includes("portal-queue")) { return []; }
    return await new Promise((resolve, reject) => {
        const open = indexedDB.open("portal-queue");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
            const db = open.result;
            if (!db.objectStoreNames.contains("pending")) {
                db.close();
                resolve([]);
                return;
            }
            const all = db.transaction("pending").objectStore("pending").getAll();
            all.onsuccess = () => { db.close(); resolve(all.result); };
            all.onerror = () => { db.close(); reject(all.error); };
        };
    });
}"""

PUT_BACK_JS = """(item) => new Promise((resolve, reject) => {
    const open = indexedDB.open("portal-queue");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
        const db = open.result;
        const tx = db.transaction("pending", "readwrite");
        tx.objectStore("pending").put(item);
        tx.oncomplete = () => { db.close(); resolve(true); };
        tx.onerror = () => { db.close(); reject(tx.error); };
    };
})"""

BROWSER_STORAGE_JS = """async () => {
    const cached = {};
    for (const name of await caches.keys()) {
        const cache = await caches.open(name);
        for (const request of await cache.keys()) {
            const path = new URL(request.url).pathname;
            cached[request.url] = path.startsWith("/static/")
                ? "" : await (await cache.match(request)).text();
        }
    }
    return {
        local: Object.keys(localStorage),
        session: Object.keys(sessionStorage),
        cookies: document.cookie,
        cached,
    };
}"""

PUBLIC_SHELL = re.compile(
    r"^/(crisis|offline|saved-offline\?(help=1&)?lang=(en|es)|static/.+)$"
)
OFFLINE_NOTE = "Fight with my sister, could not sleep"


def _wait_until_controlled(page) -> None:
    """The service worker is active and controls this page (reload once if not yet)."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    if not page.evaluate("navigator.serviceWorker.controller !== null"):
        page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null")


def _wait_until_queue_is_empty(page, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while page.evaluate(QUEUE_ITEMS_JS):
        if time.monotonic() > deadline:
            raise AssertionError("the offline queue was not sent")
        page.wait_for_timeout(200)


def _checkins_today(database, patient_id: str) -> list[tuple]:
    today = datetime.now(DEMO_TZ).date().isoformat()
    return _query(
        database,
        "SELECT idempotency_key, feels_safe, note FROM checkins "
        "WHERE patient_id = ? AND local_date = ?",
        patient_id,
        today,
    )


def _audited(database, patient_id: str, action: str) -> int:
    return _query(
        database,
        "SELECT count(*) FROM audit_log WHERE patient_id = ? AND data_kind = 'checkin' "
        "AND action = ?",
        patient_id,
        action,
    )[0][0]


@pytest.mark.browser
def test_offline_checkin_is_kept_sent_once_when_signal_returns_and_leaves_nothing(
    new_phone, check, server
):
    database = server["database"]
    patient_id = _patient_id(database, PATIENT2)
    assert _checkins_today(database, patient_id) == []
    context = new_phone()
    page = context.new_page()
    sign_in_patient(page, PATIENT2)
    page.goto("/check-in")
    _wait_until_controlled(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Daily check-in")
    key = page.locator('input[name="idempotency_key"]').input_value()

    context.set_offline(True)
    try:
        _fill_checkin(page, "No", note=OFFLINE_NOTE)
        _expect_crisis_help(page.locator("#crisis-panel"))
        page.get_by_role("button", name="Send my check-in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Saved on your phone")
        help_box = page.locator(".help-box")
        expect(help_box).to_be_visible()
        for href in ("tel:988", "sms:988", "tel:911"):
            expect(help_box.locator(f'a[href="{href}"]')).to_be_visible()
        expect(help_box).to_contain_text("not watched around the clock")
        check(page, "saved on your phone with crisis help")

        queued = page.evaluate(QUEUE_ITEMS_JS)
        assert len(queued) == 1, queued
        (item,) = queued
        assert item["key"] == key and item["path"] == "/check-in"
        assert "feels_safe=no" in item["body"]
        assert _checkins_today(database, patient_id) == []  # nothing reached the server
    finally:
        context.set_offline(False)

    # Opening a page is a sign of signal: the worker sends the queue.
    page.get_by_role("link", name="Back to the app").click()
    expect(page).to_have_url(re.compile(r"/$"))
    _wait_until_queue_is_empty(page)
    page.reload()
    expect(page.locator(".todo")).to_contain_text("Your check-in for today is done.")
    stored = _checkins_today(database, patient_id)
    assert stored == [(key, 0, OFFLINE_NOTE)], stored
    assert _audited(database, patient_id, "create") == 1

    # Resend: as if the answer to the first send were lost on the way back, the same
    # item is sent again, twice (on an in-app tap, an hx-boost navigation, and when a
    # page asks the worker to flush); the server keeps it once, with one risk answer.
    nav = page.get_by_role("navigation", name="Main")
    for send_again in (
        lambda: nav.get_by_role("link", name="Week").click(),
        lambda: page.evaluate(
            "navigator.serviceWorker.controller.postMessage('flush-queue')"
        ),
    ):
        assert page.evaluate(PUT_BACK_JS, item)
        send_again()
        _wait_until_queue_is_empty(page)
        assert _checkins_today(database, patient_id) == stored
        assert _audited(database, patient_id, "create") == 1
        assert _audited(database, patient_id, "update") == 0

    # Nothing readable about the patient is left in the browser.
    assert page.evaluate(QUEUE_ITEMS_JS) == []
    storage = page.evaluate(BROWSER_STORAGE_JS)
    assert storage["local"] == [] and storage["session"] == [], storage
    assert storage["cookies"] == ""  # the session cookie is HttpOnly
    paths = [re.sub(r"^https?://[^/]+", "", url) for url in storage["cached"]]
    assert [p for p in paths if not PUBLIC_SHELL.match(p)] == [], paths
    for url, body in storage["cached"].items():
        for private in (PATIENT2_NAME, OFFLINE_NOTE, "feels_safe", "Sign out"):
            assert private not in body, f"{url} in CacheStorage holds {private!r}"

    # The server opened one alert, with one risk answer, for the on-call nurse.
    nurse = new_phone().new_page()
    sign_in_staff(nurse, NURSE)
    _open_alert(nurse, PATIENT2_NAME)
    expect(_fact(nurse, "From")).to_have_text("Daily check-in: does not feel safe")
    expect(_fact(nurse, "Risk answers in this episode")).to_have_text("1")
    _take_alert_to_the_end(nurse)


CLEAR_QUEUE_JS = """() => new Promise((resolve, reject) => {
    const open = indexedDB.open("portal-queue");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
        const db = open.result;
        const tx = db.transaction("pending", "readwrite");
        tx.objectStore("pending").clear();
        tx.oncomplete = () => { db.close(); resolve(true); };
        tx.onerror = () => { db.close(); reject(tx.error); };
    };
})"""


def _answer_offline(context, page, path: str, answer) -> bool:
    """Load `path` with signal, answer it with none, send: the phone's own page says it
    is saved. Returns whether that page shows crisis help. The kept item is then taken
    out of the queue, so that these practice answers never reach the server."""
    page.goto(path)
    _wait_until_controlled(page)
    context.set_offline(True)
    try:
        answer(page)
        page.get_by_role("button", name=re.compile(r"^Send my")).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Saved on your phone")
        assert len(page.evaluate(QUEUE_ITEMS_JS)) == 1
        page.evaluate(CLEAR_QUEUE_JS)
        return page.locator(".help-box").is_visible()
    finally:
        context.set_offline(False)


def _phq9(item9: str):
    def answer(page):
        for group in page.get_by_role("group").all()[:8]:
            group.get_by_label("Several days", exact=True).check()
        _choose(page, PHQ9_ITEM9, item9)

    return answer


def _cssrs(yes_to: int | None):
    def answer(page):
        for number, question in enumerate(CSSRS_QUESTIONS, start=1):
            _choose(page, question, "Yes" if number == yes_to else "No")

    return answer


@pytest.mark.browser
def test_with_no_signal_the_phone_shows_crisis_help_for_every_risk_answer(
    new_phone, check
):
    context = new_phone()
    page = context.new_page()
    sign_in_patient(page, PATIENT2)

    assert not _answer_offline(
        context, page, "/check-in", lambda p: _fill_checkin(p, "Yes")
    )
    check(page, "saved on your phone")
    assert _answer_offline(context, page, "/check-in", lambda p: _fill_checkin(p, "No"))

    assert not _answer_offline(context, page, "/questions/a", _phq9("Not at all"))
    for answer in PHQ9_ANSWERS[1:]:
        assert _answer_offline(context, page, "/questions/a", _phq9(answer)), answer

    assert not _answer_offline(context, page, "/questions/c", _cssrs(None))
    for number in range(1, len(CSSRS_QUESTIONS) + 1):
        assert _answer_offline(context, page, "/questions/c", _cssrs(number)), number


def _wait_until(predicate, message: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.2)


@pytest.mark.browser
def test_a_check_in_kept_on_a_shared_phone_is_sent_as_hers_after_someone_else_signs_in(
    new_phone, server
):
    database = server["database"]
    owner = _patient_id(database, PATIENT)
    context = new_phone()
    page = context.new_page()
    sign_in_patient(page, PATIENT)
    page.goto("/check-in")
    _wait_until_controlled(page)
    key = page.locator('input[name="idempotency_key"]').input_value()
    context.set_offline(True)
    try:
        _fill_checkin(page, "Yes", note="Kept while the bus had no signal")
        page.get_by_role("button", name="Send my check-in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Saved on your phone")
        # Her session ends while the answers wait with no signal (the idle timeout).
        context.clear_cookies()
    finally:
        context.set_offline(False)

    # Someone else signs in on the same phone and opens a page: the worker sends her
    # answers with their signed token and no cookie, as hers, and keeps nothing.
    sign_in_patient(page, PATIENT2)
    _nav(page, "Week")
    _wait_until_queue_is_empty(page)
    stored = "SELECT patient_id FROM checkins WHERE idempotency_key = ?"
    assert _query(database, stored, key) == [(owner,)]
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    assert "Kept while the bus" not in page.content()


@pytest.mark.browser
def test_a_check_in_the_server_cannot_save_is_kept_and_sent_when_it_recovers(
    new_phone, server
):
    """A real fault: the demo's SQLite database is locked by another writer, so the
    server cannot save (after its 15 s busy timeout) and answers 503."""
    database = server["database"]
    patient_id = _patient_id(database, PATIENT3)
    context = new_phone()
    page = context.new_page()
    sign_in_patient(page, PATIENT3)
    page.goto("/check-in")
    _wait_until_controlled(page)
    key = page.locator('input[name="idempotency_key"]').input_value()
    _fill_checkin(page, "No", note="Server trouble day")
    locker = sqlite3.connect(database, timeout=30, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")
        page.get_by_role("button", name="Send my check-in").click(timeout=40_000)
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Saved on your phone", timeout=40_000
        )
        expect(page.locator(".help-box")).to_be_visible()
        assert [item["key"] for item in page.evaluate(QUEUE_ITEMS_JS)] == [key]
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    page.get_by_role("link", name="Back to the app").click()
    _wait_until_queue_is_empty(page, seconds=30)
    stored = "SELECT patient_id, feels_safe FROM checkins WHERE idempotency_key = ?"
    assert _query(database, stored, key) == [(patient_id, 0)]
    flags = "SELECT count(*) FROM risk_flags WHERE patient_id = ?"
    assert _query(database, flags, patient_id) == [(1,)]
