"""Loops that close, on a phone: what was arranged and "Did you get the help?" on a
done request, "I'll be late" for a session of today, asking to change an appointment,
and the notification list saying what each item is about. Every page passes the
shared checks (axe, 320 px reflow, 44 px targets, CSP)."""

from __future__ import annotations

import re
import sqlite3
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import sign_in_patient, sign_in_staff

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect

DEMO_TZ = ZoneInfo("America/New_York")


@pytest.mark.browser
def test_a_done_request_says_what_was_arranged_and_asks_once(phone, check):
    page = phone
    sign_in_patient(page)
    page.goto("/help")
    expect(page.get_by_text("Arranged: Pickup Thu 7:45 AM, white van")).to_be_visible()
    check(page, "my requests with an outcome")
    page.get_by_role("link", name="Did you get the help? Tell us").click()
    expect(page.get_by_role("heading", name="What was arranged")).to_be_visible()
    check(page, "a done request")
    page.get_by_role("button", name="Send my answer").click()
    expect(page.locator(".error")).to_contain_text("Choose yes, partly or no.")
    check(page, "a done request, no answer chosen")
    page.get_by_label("Partly").check()
    page.get_by_role("button", name="Send my answer").click()
    expect(page.get_by_text("You told us: I got part of the help.")).to_be_visible()
    expect(page.get_by_role("button", name="Send my answer")).to_have_count(0)
    check(page, "a done request, answered")


def _add_session_today(database) -> str:
    """A group of the demo patient's track today, open all day, so that the test
    does not depend on the hour or the weekday it runs at."""
    today = datetime.now(DEMO_TZ).date()
    session_id = str(uuid.uuid4())
    with sqlite3.connect(database, timeout=30) as conn:
        (track_id,) = conn.execute(
            "SELECT e.track_id FROM enrollments e JOIN users u ON u.id = e.patient_id"
            " WHERE u.email = 'patient@demo.test'"
        ).fetchone()
        conn.execute(
            "INSERT INTO group_sessions (id, track_id, title, kind, weekday, starts_at,"
            " ends_at, room, active) VALUES (?, ?, 'Open studio', 'group', ?,"
            " '00:00:02.000000', '23:59:58.000000', 'Room 2', 1)",
            (session_id, track_id, today.weekday()),
        )
    return session_id


def _retire_session(database, session_id: str) -> None:
    with sqlite3.connect(database, timeout=30) as conn:
        conn.execute("UPDATE group_sessions SET active = 0 WHERE id = ?", (session_id,))


@pytest.mark.browser
def test_the_patient_says_they_will_be_late(phone, check, server):
    session_id = _add_session_today(server["database"])
    try:
        page = phone
        sign_in_patient(page)
        page.locator(f'a[href="/today/tell/{session_id}"]').click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Late or can't come?")
        check(page, "late or can't come")
        page.get_by_role("button", name="Tell my team").click()
        expect(page.get_by_role("alert")).to_contain_text("Some answers need a fix")
        check(page, "late or can't come, with errors")
        page.get_by_label("I'll be late").check()
        page.get_by_label("No ride, or the ride is late").check()
        page.get_by_label("Anything else? (optional)").fill("Bus is 20 minutes behind")
        page.get_by_role("button", name="Tell my team").click()
        expect(page.get_by_text("Thank you for telling us.")).to_be_visible()
        expect(page.get_by_text("You told us: I'll be late")).to_be_visible()
        check(page, "today after telling")
    finally:
        _retire_session(server["database"], session_id)


@pytest.mark.browser
def test_the_patient_asks_to_change_an_appointment(phone, check):
    page = phone
    sign_in_patient(page, "patient2@demo.test")
    next_week = datetime.now(DEMO_TZ).date() + timedelta(days=7)
    page.goto(f"/week?start={next_week.isoformat()}")
    page.get_by_role("link", name="Ask to change this time").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Change an appointment")
    check(page, "change an appointment")
    page.get_by_role("button", name="Ask for this time").click()
    expect(page.get_by_role("alert")).to_contain_text("Some answers need a fix")
    check(page, "change an appointment, with errors")
    wanted = next_week + timedelta(days=1)
    page.get_by_label("What day would suit you?").fill(wanted.isoformat())
    page.get_by_label("What time?").fill("10:30")
    page.get_by_role("button", name="Ask for this time").click()
    expect(page.get_by_text("Waiting for your team to answer.")).to_be_visible()
    check(page, "change asked")


@pytest.mark.browser
def test_the_notification_list_passes_the_checks(phone, check):
    page = phone
    sign_in_patient(page)
    page.goto("/notifications")
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    check(page, "notifications")


NAV_ROWS_JS = """
() => {
  const items = [...document.querySelectorAll('nav.nav > ul > li')];
  const tops = new Set(items.map((li) => Math.round(li.getBoundingClientRect().top)));
  const list = document.querySelector('nav.nav > ul');
  const header = document.querySelector('header.top');
  return {
    items: items.length,
    rows: tops.size,
    listOverflow: list.scrollWidth - list.clientWidth,
    headerOverflow: header.scrollWidth - header.clientWidth,
    pageOverflow: document.documentElement.scrollWidth - window.innerWidth,
    rightmost: Math.max(...items.map((li) => li.getBoundingClientRect().right)),
  };
}
"""


@pytest.mark.browser
@pytest.mark.parametrize("email", ["patient@demo.test", "patient2@demo.test"])
def test_the_patients_header_navigation_fits_360_px_on_one_row(new_phone, check, email):
    page = new_phone(viewport={"width": 360, "height": 740}).new_page()
    sign_in_patient(page, email)
    for path in ("/", "/week", "/messages", "/notifications"):
        page.goto(path)
        measured = page.evaluate(NAV_ROWS_JS)
        assert measured["items"] == 5, measured  # Today, Week, Messages, Account, out
        assert measured["rows"] == 1, (path, measured)
        assert measured["listOverflow"] <= 0, (path, measured)
        assert measured["headerOverflow"] <= 0, (path, measured)
        assert measured["pageOverflow"] <= 0, (path, measured)
        assert measured["rightmost"] <= 360, (path, measured)
    check(page, "notifications at 360 px")
    # the widest the Messages link gets: "99+" unread
    page.evaluate(
        """() => {
          const link = document.querySelector('nav.nav a[href="/messages"]');
          link.querySelector('.nav-count')?.remove();
          link.insertAdjacentHTML('beforeend', ' <span class="nav-count">99+</span>');
        }"""
    )
    measured = page.evaluate(NAV_ROWS_JS)
    assert measured["rows"] == 1 and measured["pageOverflow"] <= 0, measured


@pytest.mark.browser
def test_trends_say_which_way_is_better_and_tables_fold(phone, check):
    page = phone
    sign_in_patient(page)
    page.goto("/trends")
    expect(page.get_by_role("heading", level=1)).to_have_text("My progress")
    expect(page.locator(".better").first).to_be_visible()
    check(page, "trends, tables folded")
    folds = page.locator("details.fold:not([open]) > summary")
    for _ in range(folds.count()):
        folds.first.click()
    expect(page.locator("details.fold:not([open])")).to_have_count(0)
    check(page, "trends, tables open")
    page.goto("/week")
    check(page, "week with breaks folded")


@pytest.mark.browser
def test_the_therapist_answers_a_change_request(phone, check):
    page = phone
    sign_in_staff(page, "therapist@demo.test")
    page.goto("/staff")
    page.get_by_role("link", name="Requests to change an appointment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Requests to change an appointment"
    )
    check(page, "appointment change requests")
    page.get_by_role("link", name=re.compile("Sam Patel")).click()
    expect(page.get_by_text("I got an afternoon shift that day.")).to_be_visible()
    check(page, "a change request")
    page.get_by_role("button", name="Move it to this time").click()
    expect(page.locator(".error").first).to_contain_text("Choose a day.")
    check(page, "a change request, offer with errors")
