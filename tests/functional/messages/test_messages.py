"""Peer messaging: conversations, who may read them, coverage, after hours, crisis
language, flags for a clinician, contacts, unread counts and the "anything new?"
check."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.messages import inbox, services
from portal.blueprints.messages.models import (
    FlagReason,
    Message,
    MessageThread,
    PeerContact,
    ThreadFlag,
)
from portal.blueprints.notifications.models import Notification, NotificationKind
from portal.blueprints.programs.models import Program
from portal.blueprints.safety.models import RiskFlag
from portal.db import utcnow
from portal.security import Role
from tests import factories as f
from tests.conftest import csrf_from, post_form, sign_in
from tests.factories.messages import add_message, bodies, thread_id_for

ALWAYS_OPEN = {str(day): ["00:00", "23:59"] for day in range(7)}
NEVER_OPEN: dict = {}


@pytest.fixture
def open_hours(world):
    _set_hours(world.program, ALWAYS_OPEN)


def _send(client, url: str, text: str, **headers):
    html = client.get(url).get_data(as_text=True)
    return client.post(
        url, data={"csrf_token": csrf_from(html), "body": text}, headers=headers
    )


def _thread_of(patient) -> MessageThread:
    return db.session.scalar(
        select(MessageThread).where(MessageThread.patient_id == patient.id)
    )


def _notifications(user, kind=NotificationKind.NEW_MESSAGE) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.recipient_id == user.id, Notification.kind == kind)
    )


def _second_peer(world, name="Peer Two"):
    peer = f.UserFactory(staff=True, role=Role.PEER, display_name=name)
    f.StaffMembershipFactory(user_id=peer.id, program_id=world.program.id)
    return peer


_SIGNED_IN: dict = {}


def _other_client(app, user):
    """A second browser signed in as `user`, once per test (a TOTP code works once)."""
    if user.id not in _SIGNED_IN:
        client = app.test_client()
        sign_in(client, user)
        _SIGNED_IN[user.id] = client
    return _SIGNED_IN[user.id]


@pytest.fixture(autouse=True)
def _fresh_browsers():
    _SIGNED_IN.clear()
    yield
    _SIGNED_IN.clear()


def _set_hours(program, hours) -> None:
    db.session.execute(
        update(Program).where(Program.id == program.id).values(opening_hours=hours)
    )


# ---- a conversation -----------------------------------------------------------------


def test_patient_first_message_starts_the_thread_and_tells_their_peer(
    client, login_as, world, open_hours
):
    login_as(Role.PATIENT)
    page = client.get("/messages").get_data(as_text=True)
    assert "peer one" in page  # who reads: the assigned peer, by name
    response = _send(client, "/messages", "Hello, is anyone there?")
    assert response.status_code == 303
    thread = _thread_of(world.patient)
    assert response.headers["Location"].endswith(f"/messages/{thread.id}")
    assert bodies(thread.id) == ["Hello, is anyone there?"]
    assert thread.waiting_since is not None
    assert _notifications(world.staff[Role.PEER]) == 1
    note = db.session.scalar(
        select(Notification).where(
            Notification.recipient_id == world.staff[Role.PEER].id
        )
    )
    assert note.target == f"/messages/{thread.id}"


def test_peer_reply_answers_the_thread_and_patient_sees_it_unread(
    client, app, login_as, world, open_hours
):
    thread_id = thread_id_for(world.patient, world.patient, "I had a hard day")
    peer = _other_client(app, world.staff[Role.PEER])
    response = _send(peer, f"/messages/{thread_id}", "I hear you. Want to talk?")
    assert response.status_code == 303
    assert _thread_of(world.patient).waiting_since is None
    assert _notifications(world.patient) == 1

    login_as(Role.PATIENT)
    today = client.get("/").get_data(as_text=True)
    assert re.search(r"Messages <span class=\"nav-count\">1<", today)
    page = client.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert "I hear you. Want to talk?" in page
    assert 'class="badge new"' in page
    again = client.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert 'class="nav-count"' not in again  # read now
    assert 'class="badge new"' not in again


def test_seen_shows_once_the_other_side_has_read(client, app, login_as, world):
    login_as(Role.PATIENT)
    thread_id = thread_id_for(world.patient, world.patient, "Are you there?")
    page = client.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert re.search(r'id="seen-note" class="seen">\s*</p>', page)
    peer = _other_client(app, world.staff[Role.PEER])
    assert peer.get(f"/messages/{thread_id}").status_code == 200
    page = client.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert re.search(r'id="seen-note" class="seen">Seen</p>', page)


def test_only_a_few_burst_notifications_one_per_unread_stretch(
    client, app, login_as, world, open_hours
):
    login_as(Role.PATIENT)
    _send(client, "/messages", "one")
    thread = _thread_of(world.patient)
    for text in ("two", "three"):
        _send(client, f"/messages/{thread.id}", text)
    assert _notifications(world.staff[Role.PEER]) == 1
    peer = _other_client(app, world.staff[Role.PEER])
    peer.get(f"/messages/{thread.id}")
    _send(client, f"/messages/{thread.id}", "four")
    assert _notifications(world.staff[Role.PEER]) == 2


def test_message_length_limit_is_4000_characters(client, login_as, world, open_hours):
    login_as(Role.PATIENT)
    assert _send(client, "/messages", "x" * 4000).status_code == 303
    thread = _thread_of(world.patient)
    too_long = _send(client, f"/messages/{thread.id}", "y" * 4001)
    assert too_long.status_code == 422
    assert "under 4,000 characters" in too_long.get_data(as_text=True)
    blank = _send(client, f"/messages/{thread.id}", "   \n  ")
    assert blank.status_code == 422
    assert len(bodies(thread.id)) == 1


def test_htmx_send_answers_the_conversation_fragment(client, login_as, world):
    login_as(Role.PATIENT)
    thread_id = thread_id_for(world.patient, world.patient, "first")
    response = _send(
        client, f"/messages/{thread_id}", "second", **{"HX-Request": "true"}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="conversation"')
    assert "second" in body and "<nav" not in body
    assert response.headers["Vary"].count("HX-Request")


def test_older_messages_are_a_link_away(client, login_as, world):
    login_as(Role.PATIENT)
    thread = services.open_thread(world.patient.id)
    for n in range(1, 61):
        add_message(thread, world.patient, f"note number {n:03d}")
    page = client.get(f"/messages/{thread.id}").get_data(as_text=True)
    assert "note number 060" in page and "note number 010" not in page
    assert "note number 011" in page
    older = client.get(f"/messages/{thread.id}?before=11").get_data(as_text=True)
    assert "note number 010" in older and "note number 011" not in older
    assert "thread-poll" not in older  # only the latest page listens for updates


# ---- hostile text --------------------------------------------------------------------


HOSTILE = (
    '<script>alert("x")</script> <img src=x onerror=alert(1)> '
    'javascript:alert(2) http://evil.example/"onmouseover="alert(3) '
    "see https://example.org/path?a=1&b=2. \u202egnp.exe"
)


def test_hostile_text_is_shown_as_text_with_only_safe_links(client, login_as, world):
    login_as(Role.PATIENT)
    thread_id = thread_id_for(world.patient, world.patient, "hi")
    _send(client, f"/messages/{thread_id}", HOSTILE)
    page = client.get(f"/messages/{thread_id}").get_data(as_text=True)
    body = page[page.index('id="message-list"') :]
    assert "<script>alert" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body
    assert 'href="javascript' not in body
    assert 'onmouseover="alert' not in body
    links = re.findall(r"<a href=\"([^\"]*)\" rel=\"([^\"]*)\">", body)
    assert (
        "https://example.org/path?a=1&amp;b=2",
        "noopener noreferrer nofollow",
    ) in links
    assert ("http://evil.example/", "noopener noreferrer nofollow") in links
    assert "\u202e" not in bodies(thread_id)[-1]  # direction overrides removed


# ---- who may read -------------------------------------------------------------------


def test_no_one_outside_the_thread_reads_it(client, app, world):
    thread_id = thread_id_for(world.patient, world.patient, "PRIVATE-WORDS-1")
    outsiders = [
        world.patient_b,
        world.staff[Role.THERAPIST],  # on the team, but no consent and no flag
        world.staff[Role.CASE_MANAGER],
        world.other_therapist,
        world.director,
        world.admin,
        _second_peer(world),  # a peer of the program, but A has a peer present
    ]
    for person in outsiders:
        other = _other_client(app, person)
        for path in (f"/messages/{thread_id}", f"/messages/{thread_id}/updates"):
            response = other.get(path)
            assert response.status_code == 404, (person.role, path)
            assert "PRIVATE-WORDS-1" not in response.get_data(as_text=True)
        assert "PRIVATE-WORDS-1" not in other.get("/messages").get_data(as_text=True)


def test_patient_consent_lets_a_team_member_in_and_withdrawal_shuts_them_out(
    client, app, login_as, world
):
    thread_id = thread_id_for(world.patient, world.patient, "about my week")
    therapist = world.staff[Role.THERAPIST]
    other = _other_client(app, therapist)
    assert other.get(f"/messages/{thread_id}").status_code == 404

    login_as(Role.PATIENT)
    page = client.get("/messages/sharing").get_data(as_text=True)
    assert "therapist one" in page and "peer one (peer)" not in page
    post_form(client, "/messages/sharing", {"share": therapist.id})
    assert "about my week" in other.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert "therapist one (therapist)" in client.get(f"/messages/{thread_id}").get_data(
        as_text=True
    )
    inbox = other.get("/messages").get_data(as_text=True)
    assert "Shared with you" in inbox

    post_form(client, "/messages/sharing", {})
    assert other.get(f"/messages/{thread_id}").status_code == 404


def test_consent_cannot_name_someone_outside_the_care_team(client, login_as, world):
    login_as(Role.PATIENT)
    post_form(client, "/messages/sharing", {"share": world.other_therapist.id})
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    outsider = _other_client(client.application, world.other_therapist)
    assert outsider.get(f"/messages/{thread_id}").status_code == 404


# ---- coverage ------------------------------------------------------------------------


def test_away_peer_hands_threads_to_the_covering_peer(
    client, app, login_as, world, open_hours
):
    peer, cover = world.staff[Role.PEER], _second_peer(world, "Covering Peer")
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    cover_client = _other_client(app, cover)
    assert cover_client.get(f"/messages/{thread_id}").status_code == 404

    login_as(Role.PEER)
    response = post_form(
        client, "/messages/away", {"status": "away", "covering_id": cover.id}
    )
    assert response.status_code == 303
    assert "You are away." in client.get("/messages").get_data(as_text=True)

    assert cover_client.get(f"/messages/{thread_id}").status_code == 200
    inbox = cover_client.get("/messages").get_data(as_text=True)
    assert "You are covering for: peer one." in inbox
    assert "You are covering for peer one" in inbox

    patient = _other_client(app, world.patient)
    page = patient.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert "is away" in page and "Covering Peer" in page
    _send(patient, f"/messages/{thread_id}", "anyone?")
    assert _notifications(cover) == 1 and _notifications(peer) == 0

    post_form(client, "/messages/away", {"status": "here"})
    assert cover_client.get(f"/messages/{thread_id}").status_code == 404


def test_away_without_cover_or_no_peer_goes_to_every_peer_of_the_program(
    client, app, world, open_hours
):
    other_peer = _second_peer(world)
    elsewhere = f.UserFactory(staff=True, role=Role.PEER)
    f.StaffMembershipFactory(user_id=elsewhere.id, program_id=world.other_program.id)
    # Patient B has no peer at all: every peer of the program may answer.
    thread_b = thread_id_for(world.patient_b, world.patient_b, "no peer yet")
    assert (
        _other_client(app, other_peer).get(f"/messages/{thread_b}").status_code == 200
    )
    assert _other_client(app, elsewhere).get(f"/messages/{thread_b}").status_code == 404
    patient_b = _other_client(app, world.patient_b)
    page = patient_b.get(f"/messages/{thread_b}").get_data(as_text=True)
    assert "The peer specialists of your program" in page
    _send(patient_b, f"/messages/{thread_b}", "hello?")
    assert (
        _notifications(other_peer) == 1 and _notifications(world.staff[Role.PEER]) == 1
    )

    # A's peer away with nobody covering: the program's other peers see A's thread.
    thread_a = thread_id_for(world.patient, world.patient, "hi")
    peer = _other_client(app, world.staff[Role.PEER])
    post_form(peer, "/messages/away", {"status": "away", "covering_id": ""})
    assert (
        _other_client(app, other_peer).get(f"/messages/{thread_a}").status_code == 200
    )


def test_cover_must_be_a_present_peer_of_the_program(client, login_as, world):
    elsewhere = f.UserFactory(staff=True, role=Role.PEER)
    f.StaffMembershipFactory(user_id=elsewhere.id, program_id=world.other_program.id)
    login_as(Role.PEER)
    response = post_form(
        client, "/messages/away", {"status": "away", "covering_id": elsewhere.id}
    )
    assert response.status_code == 422
    assert "Choose a peer specialist of your program" in response.get_data(as_text=True)


def test_covering_passes_on_when_the_cover_goes_away(client, app, world):
    a, b, c = world.staff[Role.PEER], _second_peer(world, "B"), _second_peer(world, "C")
    post_form(
        _other_client(app, a), "/messages/away", {"status": "away", "covering_id": b.id}
    )
    post_form(
        _other_client(app, b), "/messages/away", {"status": "away", "covering_id": c.id}
    )
    assert inbox.availability_of(a).covering_id == c.id
    thread_id = thread_id_for(world.patient, world.patient, "hi")
    assert _other_client(app, c).get(f"/messages/{thread_id}").status_code == 200


# ---- the inbox -----------------------------------------------------------------------


def test_inbox_lists_unanswered_first_with_waiting_time(client, app, login_as, world):
    peer = world.staff[Role.PEER]
    answered, waiting_long, waiting_short = (
        f.UserFactory(display_name=name)
        for name in ("Answered Ann", "Long Lou", "Short Sid")
    )
    for person in (answered, waiting_long, waiting_short):
        f.EnrollmentFactory(
            patient_id=person.id, program_id=world.program.id, track_id=world.track.id
        )
        f.CareTeamFactory(patient_id=person.id, staff_id=peer.id, team_role="peer")
    for person, hours in ((waiting_short, 1), (waiting_long, 5), (answered, 9)):
        thread = services.open_thread(person.id)
        add_message(thread, person, "hi")
        thread.waiting_since = utcnow() - timedelta(hours=hours)
    thread = _thread_of(answered)
    add_message(thread, peer, "hello back")
    thread.waiting_since = None
    db.session.flush()

    login_as(Role.PEER)
    page = client.get("/messages").get_data(as_text=True)
    order = [page.index(n) for n in ("Long Lou", "Short Sid", "Answered Ann")]
    assert order == sorted(order)
    assert "Waiting 5 hours" in page and "Waiting 1 hour<" in page
    assert "Answered" in page


def test_peer_starts_a_conversation_with_their_own_patient_only(
    client, login_as, world
):
    login_as(Role.PEER)
    page = client.get("/messages").get_data(as_text=True)
    assert "Write to ALPHA-MARKER-4471" in page
    ok = post_form(client, "/messages", {"patient_id": world.patient.id})
    assert ok.status_code == 303
    thread = _thread_of(world.patient)
    assert ok.headers["Location"].endswith(f"/messages/{thread.id}")
    refused = post_form(client, "/messages", {"patient_id": world.patient_b.id})
    assert refused.status_code == 404
    assert _thread_of(world.patient_b) is None


# ---- after hours ---------------------------------------------------------------------


def test_after_hours_the_patient_sees_when_a_reply_is_likely_and_where_to_go(
    client, login_as, world
):
    _set_hours(world.program, NEVER_OPEN)
    db.session.execute(
        update(Program)
        .where(Program.id == world.program.id)
        .values(on_call_phone="+1-555-010-4242")
    )
    login_as(Role.PATIENT)
    page = client.get("/messages").get_data(as_text=True)
    assert "The program is closed now" in page
    assert 'href="tel:988"' in page and 'href="tel:+1-555-010-4242"' in page
    assert 'href="tel:911"' in page
    _set_hours(world.program, ALWAYS_OPEN)
    page = client.get("/messages").get_data(as_text=True)
    assert "The program is closed now" not in page
    assert "usually answers during program hours" in page


def test_reply_outlook_names_the_next_opening(world, app_ctx):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    program = world.program
    program.opening_hours = {str(d): ["08:00", "17:00"] for d in range(5)}
    program.timezone = "America/New_York"
    tz = ZoneInfo("America/New_York")
    friday_evening = datetime(2026, 11, 27, 19, 0, tzinfo=tz)  # a Friday
    outlook = services.reply_outlook(program, friday_evening)
    assert not outlook.open_now
    assert outlook.next_opening_words == "Monday at 8:00 AM"
    early = datetime(2026, 11, 30, 6, 0, tzinfo=tz)
    assert (
        services.reply_outlook(program, early).next_opening_words == "today at 8:00 AM"
    )
    evening = datetime(2026, 11, 30, 18, 0, tzinfo=tz)
    assert services.reply_outlook(program, evening).next_opening_words == (
        "tomorrow at 8:00 AM"
    )
    assert services.reply_outlook(
        program, datetime(2026, 11, 30, 9, 0, tzinfo=tz)
    ).open_now


def test_reply_outlook_speaks_spanish_on_a_spanish_page(world, app):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    program = world.program
    program.opening_hours = {str(d): ["08:00", "17:00"] for d in range(5)}
    program.timezone = "America/New_York"
    tz = ZoneInfo("America/New_York")
    friday_evening = datetime(2026, 11, 27, 19, 0, tzinfo=tz)
    early = datetime(2026, 11, 30, 6, 0, tzinfo=tz)
    with app.test_request_context("/", headers={"Accept-Language": "es"}):
        words = services.reply_outlook(program, friday_evening).next_opening_words
        assert words == "el lunes a las 8:00 a.\u202fm."
        assert services.reply_outlook(program, early).next_opening_words == (
            "hoy a las 8:00 a.\u202fm."
        )


# ---- crisis language -----------------------------------------------------------------


def test_crisis_words_show_help_flag_the_thread_and_open_the_crisis_loop(
    client, app, login_as, world
):
    thread_id = thread_id_for(world.patient, world.patient, "hi")
    login_as(Role.PATIENT)
    response = _send(
        client, f"/messages/{thread_id}", "Honestly I want to END my life."
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="crisis-panel is-shown"' in page
    assert 'href="tel:988"' in page and world.program.on_call_phone in page
    assert "told the clinician on call" in page
    # Only once: the help is not shown again on the next visit.
    assert "crisis-panel" not in client.get(f"/messages/{thread_id}").get_data(
        as_text=True
    )

    message = db.session.scalar(
        select(Message).where(Message.thread_id == thread_id, Message.seq == 2)
    )
    assert message.crisis_phrases == ["end my life"]
    flag = db.session.scalar(
        select(ThreadFlag).where(ThreadFlag.thread_id == thread_id)
    )
    assert flag.reason is FlagReason.CRISIS_LANGUAGE and flag.message_id == message.id
    risk = db.session.scalar(
        select(RiskFlag).where(RiskFlag.patient_id == world.patient.id)
    )
    assert risk.source == "message" and risk.source_id == message.id
    assert _notifications(world.staff[Role.THERAPIST]) == 1

    therapist = _other_client(app, world.staff[Role.THERAPIST])
    flagged = therapist.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert "Flagged for a clinician" in flagged
    assert "Crisis words found: end my life" in flagged


def test_htmx_send_with_crisis_words_answers_with_crisis_help(client, login_as, world):
    thread_id = thread_id_for(world.patient, world.patient, "hi")
    login_as(Role.PATIENT)
    response = _send(
        client, f"/messages/{thread_id}", "no reason to live", **{"HX-Request": "true"}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'class="crisis-panel is-shown"' in body


def test_ordinary_words_do_not_trip_the_list(client, login_as, world):
    thread_id = thread_id_for(world.patient, world.patient, "hi")
    login_as(Role.PATIENT)
    _send(client, f"/messages/{thread_id}", "The diet made me feel skilled at cooking")
    assert db.session.scalar(select(func.count()).select_from(ThreadFlag)) == 0
    assert db.session.scalar(select(func.count()).select_from(RiskFlag)) == 0


def test_clinicians_edit_the_phrase_list_and_it_applies_at_once(
    client, app, login_as, world
):
    login_as(Role.THERAPIST)
    page = client.get("/staff/messages/phrases").get_data(as_text=True)
    assert "kill myself" in page and "starting list" in page
    response = post_form(
        client,
        "/staff/messages/phrases",
        {"phrases": "give up on everything\nkill myself"},
    )
    assert response.status_code == 303
    assert services.phrases_for(world.program.id) == [
        "give up on everything",
        "kill myself",
    ]
    assert (
        _other_client(app, world.staff[Role.PEER])
        .get("/staff/messages/phrases")
        .status_code
        == 404
    )

    thread_id = thread_id_for(world.patient, world.patient, "hi")
    patient = _other_client(app, world.patient)
    _send(patient, f"/messages/{thread_id}", "I want to die")  # removed from the list
    assert db.session.scalar(select(func.count()).select_from(ThreadFlag)) == 0
    _send(patient, f"/messages/{thread_id}", "I might GIVE UP on everything...")
    assert db.session.scalar(select(func.count()).select_from(ThreadFlag)) == 1


# ---- a peer flags a thread; contacts -------------------------------------------------


def test_peer_flags_a_thread_and_the_therapist_may_read_until_handled(
    client, app, login_as, world
):
    thread_id = thread_id_for(world.patient, world.patient, "things are rough")
    therapist = _other_client(app, world.staff[Role.THERAPIST])
    assert therapist.get(f"/messages/{thread_id}").status_code == 404

    login_as(Role.PEER)
    missing_note = post_form(
        client,
        f"/messages/{thread_id}/flag",
        {"flag-note": ""},
        page=f"/messages/{thread_id}",
    )
    assert missing_note.status_code == 422
    response = post_form(
        client,
        f"/messages/{thread_id}/flag",
        {"flag-note": "Talked about losing housing; seems low."},
        page=f"/messages/{thread_id}",
    )
    assert response.status_code == 303
    assert _notifications(world.staff[Role.THERAPIST]) == 1

    page = therapist.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert "things are rough" in page and "seems low" in page
    patient = _other_client(app, world.patient)
    assert "seems low" not in patient.get(f"/messages/{thread_id}").get_data(
        as_text=True
    )

    done = post_form(
        therapist,
        f"/messages/{thread_id}/handled",
        {"handled-note": "Called the patient; safe, plan for tomorrow."},
        page=f"/messages/{thread_id}",
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/messages")
    assert therapist.get(f"/messages/{thread_id}").status_code == 404


def test_peer_logs_a_contact_as_a_peer_support_encounter(client, login_as, world):
    thread_id = thread_id_for(world.patient, world.patient, "hi")
    login_as(Role.PEER)
    response = post_form(
        client,
        f"/messages/{thread_id}/contacts",
        {
            "contact-contact_on": utcnow().date().isoformat(),
            "contact-minutes": "25",
            "contact-kind": "call",
            "contact-note": "Check-in call",
        },
        page=f"/messages/{thread_id}",
    )
    assert response.status_code == 303
    contact = db.session.scalar(select(PeerContact))
    assert (contact.minutes, contact.kind.value, contact.hcpcs) == (25, "call", "H0038")
    assert contact.peer_id == world.staff[Role.PEER].id
    assert "25 minutes, call (H0038)" in client.get(f"/messages/{thread_id}").get_data(
        as_text=True
    )
    bad = post_form(
        client,
        f"/messages/{thread_id}/contacts",
        {
            "contact-contact_on": "2026-01-01",
            "contact-minutes": "0",
            "contact-kind": "call",
        },
        page=f"/messages/{thread_id}",
    )
    assert bad.status_code == 422
    for far_out in ("9999-12-31", "0001-01-01"):
        bad = post_form(
            client,
            f"/messages/{thread_id}/contacts",
            {
                "contact-contact_on": far_out,
                "contact-minutes": "25",
                "contact-kind": "call",
            },
            page=f"/messages/{thread_id}",
        )
        assert bad.status_code == 422
        assert "Choose a date from 1900 to 2999." in bad.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(PeerContact)) == 1


# ---- the "anything new?" check -------------------------------------------------------


def _audit_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_anything_new_answers_304_with_no_body_and_no_audit_row(
    client, login_as, world, query_counter
):
    thread_id = thread_id_for(world.patient, world.patient, "hi")
    login_as(Role.PATIENT)
    page = client.get(f"/messages/{thread_id}").get_data(as_text=True)
    url = (
        re.search(r'data-hx-get="([^"]+/updates[^"]*)"', page)
        .group(1)
        .replace("&amp;", "&")
    )
    etag = re.search(r"If-None-Match&#34;: &#34;\\&#34;([^\\]+)\\", page) or re.search(
        r'"If-None-Match": "\\"([^\\]+)\\""', page
    )
    tag = etag.group(1)
    client.get(url, headers={"If-None-Match": f'"{tag}"'})  # warm
    before, query_counter["n"], query_counter["statements"] = _audit_rows(), 0, []
    response = client.get(url, headers={"If-None-Match": f'"{tag}"'})
    assert response.status_code == 304 and response.data == b""
    # The session, then who may read and the version in one statement.
    assert query_counter["n"] <= 2, query_counter["statements"]
    assert _audit_rows() == before


def test_anything_new_sends_new_messages_and_a_new_version(
    client, app, login_as, world
):
    thread_id = thread_id_for(world.patient, world.patient, "hi")
    login_as(Role.PATIENT)
    client.get(f"/messages/{thread_id}")
    first = client.get(f"/messages/{thread_id}/updates?after=1")
    tag = first.headers["ETag"]
    assert (
        client.get(
            f"/messages/{thread_id}/updates?after=1", headers={"If-None-Match": tag}
        ).status_code
        == 304
    )

    _send(
        _other_client(app, world.staff[Role.PEER]),
        f"/messages/{thread_id}",
        "NEW-REPLY-9",
    )
    before = _audit_rows()
    changed = client.get(
        f"/messages/{thread_id}/updates?after=1", headers={"If-None-Match": tag}
    )
    body = changed.get_data(as_text=True)
    assert changed.status_code == 200 and "NEW-REPLY-9" in body
    assert 'data-hx-swap-oob="beforeend:#message-list"' in body
    assert changed.headers["ETag"] != tag
    assert "after=2" in body  # the new poller asks from the new message on
    assert _audit_rows() > before  # data was shown: audited
    assert "no-store" in changed.headers["Cache-Control"]


def test_a_poll_does_not_keep_an_idle_session_alive(client, login_as, world):
    from portal.blueprints.auth.models import WebSession

    thread_id = thread_id_for(world.patient, world.patient, "hi")
    login_as(Role.PATIENT)
    row = db.session.scalar(
        select(WebSession).where(WebSession.user_id == world.patient.id)
    )
    stale = utcnow() - timedelta(minutes=5)
    row.last_seen_at = stale
    db.session.flush()
    assert client.get(f"/messages/{thread_id}/updates?after=0").status_code == 200
    seen = db.session.scalar(
        select(WebSession.last_seen_at).where(WebSession.user_id == world.patient.id)
    )
    assert seen == stale


def test_anything_new_for_another_thread_is_404(client, login_as, world):
    thread_id = thread_id_for(world.patient_b, world.patient_b, "hi")
    login_as(Role.PATIENT)
    assert client.get(f"/messages/{thread_id}/updates").status_code == 404
    assert client.get("/messages/not-an-id/updates").status_code == 404


# ---- query counts --------------------------------------------------------------------


def _count(client, counter, url) -> int:
    client.get(url)
    counter["n"] = 0
    assert client.get(url).status_code == 200
    return counter["n"]


def test_thread_and_inbox_use_the_same_queries_with_more_data(
    client, app, login_as, world, query_counter
):
    thread = services.open_thread(world.patient.id)
    add_message(thread, world.patient, "start")
    login_as(Role.PATIENT)
    small = _count(client, query_counter, f"/messages/{thread.id}")
    peer = _other_client(app, world.staff[Role.PEER])
    inbox_small = _count(peer, query_counter, "/messages")
    for n in range(120):
        add_message(thread, world.patient if n % 2 else world.staff[Role.PEER], f"m{n}")
        other = f.UserFactory()
        f.EnrollmentFactory(
            patient_id=other.id, program_id=world.program.id, track_id=world.track.id
        )
        f.CareTeamFactory(
            patient_id=other.id, staff_id=world.staff[Role.PEER].id, team_role="peer"
        )
        add_message(services.open_thread(other.id), other, "hello")
    large = _count(client, query_counter, f"/messages/{thread.id}")
    assert small == large <= 8, query_counter["statements"]
    inbox_large = _count(peer, query_counter, "/messages")
    assert inbox_small == inbox_large, query_counter["statements"]


def test_today_stays_within_eight_queries_with_the_messages_count(
    client, login_as, world, query_counter
):
    thread_id_for(world.patient, world.staff[Role.PEER], "unread for the patient")
    login_as(Role.PATIENT)
    assert _count(client, query_counter, "/") <= 8, query_counter["statements"]
    assert "nav-count" in client.get("/").get_data(as_text=True)


def test_an_open_inbox_learns_of_new_messages_and_is_otherwise_told_304(
    client, app, login_as, world, open_hours
):
    login_as(Role.PEER)
    page = client.get("/messages").get_data(as_text=True)
    tag = re.search(r'"If-None-Match": "\\"([^\\]+)\\""', page).group(1)
    same = client.get("/messages/inbox/updates", headers={"If-None-Match": f'"{tag}"'})
    assert same.status_code == 304

    patient = _other_client(app, world.patient)
    _send(patient, "/messages", "INBOX-NEWS-1")
    changed = client.get(
        "/messages/inbox/updates", headers={"If-None-Match": f'"{tag}"'}
    )
    body = changed.get_data(as_text=True)
    assert changed.status_code == 200
    assert 'id="inbox" data-hx-swap-oob="true"' in body
    assert "ALPHA-MARKER-4471" in body and "Waiting" in body
    assert (
        _other_client(app, world.patient).get("/messages/inbox/updates").status_code
        == 404
    )  # patients have no inbox


KEY_RE = re.compile(r'name="sent_key"[^>]*value="([^"]+)"')


def test_a_message_sent_twice_under_its_key_is_kept_once(
    client, login_as, world, open_hours
):
    """A double tap or a resend on a weak signal posts the same form twice: one
    message, one notification; the second answer shows the conversation as sent."""
    login_as(Role.PATIENT)
    thread_id = thread_id_for(world.patient, world.patient, "first")
    url = f"/messages/{thread_id}"
    page = client.get(url).get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), "sent_key": KEY_RE.search(page)[1]}
    before = _notifications(world.staff[Role.PEER])
    for _ in range(2):
        response = client.post(url, data=form | {"body": "Can I get a ride?"})
        assert response.status_code == 303
    assert bodies(thread_id) == ["first", "Can I get a ride?"]
    assert _notifications(world.staff[Role.PEER]) == before + 1
    # the next form has a new key: the same words sent again are a new message
    page = client.get(url).get_data(as_text=True)
    assert KEY_RE.search(page)[1] != form["sent_key"]
    form = {"csrf_token": csrf_from(page), "sent_key": KEY_RE.search(page)[1]}
    client.post(url, data=form | {"body": "Can I get a ride?"})
    assert bodies(thread_id) == ["first", "Can I get a ride?", "Can I get a ride?"]


def test_a_crisis_message_sent_twice_shows_help_both_times_and_flags_once(
    client, login_as, world, open_hours
):
    login_as(Role.PATIENT)
    thread_id = thread_id_for(world.patient, world.patient, "first")
    url = f"/messages/{thread_id}"
    page = client.get(url).get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), "sent_key": KEY_RE.search(page)[1]}
    for _ in range(2):
        response = client.post(
            url,
            data=form | {"body": "I want to kill myself"},
            headers={"HX-Request": "true"},
        )
        assert "988" in response.get_data(as_text=True)
    assert bodies(thread_id) == ["first", "I want to kill myself"]
    flags = db.session.scalar(
        select(func.count())
        .select_from(RiskFlag)
        .where(RiskFlag.patient_id == world.patient.id)
    )
    assert flags == 1


def test_another_authors_key_is_not_theirs(client, login_as, world, open_hours):
    """A key names a sending of its author only: the peer's reply under the key the
    patient used is a message of its own."""
    thread_id = thread_id_for(world.patient, world.patient, "first")
    key = "5f0d8a5e-3c1b-4b7e-9a57-0d6f1e2a3b4c"
    thread = db.session.get(MessageThread, thread_id)
    services.send_message(world.patient, thread, "from the patient", None, key)
    services.send_message(world.staff[Role.PEER], thread, "from the peer", None, key)
    assert bodies(thread_id) == ["first", "from the patient", "from the peer"]
