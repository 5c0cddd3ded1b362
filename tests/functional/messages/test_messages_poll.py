"""The idle "anything new?" checks of a conversation and of a staff inbox: 304 with no
body and no audit row when the session may read the thread (or has the inbox) and the
version is the client's; otherwise the new data, a 404, or the way to sign in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.auth.models import User, WebSession
from portal.blueprints.messages import services
from portal.blueprints.messages.models import MessageThread
from portal.db import utcnow
from portal.security import Role
from tests.conftest import post_form, sign_in
from tests.factories.messages import add_message, thread_id_for

# The session, then the read rule and the version in one: a check is cheap and must
# not grow with the data.
POLL_BUDGET = 2


@pytest.fixture
def browsers(app):
    """A signed-in browser per person, made once per test."""
    made: dict[str, object] = {}

    def browser(user: User):
        if user.id not in made:
            made[user.id] = app.test_client()
            sign_in(made[user.id], user)
        return made[user.id]

    return browser


def _version_tag(user: User, thread_id: str) -> str:
    """The ETag this person's poll of the thread would carry, read straight from the
    tables (whether or not they may read it)."""
    last_seq, others = db.session.execute(
        select(MessageThread.last_seq, services.others_read_total()).where(
            MessageThread.id == thread_id
        ),
        {"actor_id": user.id},
    ).one()
    return f'"{services.make_etag(last_seq, others or 0)}"'


def _poll(client, thread_id: str, tag: str):
    return client.get(
        f"/messages/{thread_id}/updates?after=1", headers={"If-None-Match": tag}
    )


def _statements_of(counter, request) -> tuple[object, list[str]]:
    counter["n"], counter["statements"] = 0, []
    response = request()
    return response, list(counter["statements"])


def _session_row(user: User) -> WebSession:
    return db.session.scalar(select(WebSession).where(WebSession.user_id == user.id))


def _audit_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def _consent(client, staff: User) -> None:
    post_form(client, "/messages/sharing", {"share": staff.id})


# ---- 304 while nothing changed ------------------------------------------------------


@pytest.mark.parametrize("who", ["patient", "peer", "consented therapist"])
def test_unchanged_thread_answers_304_with_no_body_and_no_audit_row(
    who, world, browsers, query_counter
):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    patient = browsers(world.patient)
    reader = {
        "patient": world.patient,
        "peer": world.staff[Role.PEER],
        "consented therapist": world.staff[Role.THERAPIST],
    }[who]
    if who == "consented therapist":
        _consent(patient, reader)
    client, tag = browsers(reader), _version_tag(reader, thread_id)
    before = _audit_rows()

    response, statements = _statements_of(
        query_counter, lambda: _poll(client, thread_id, tag)
    )

    assert response.status_code == 304 and response.data == b""
    assert response.headers["ETag"] == tag
    assert len(statements) <= POLL_BUDGET, statements
    assert not any(s.lstrip().startswith(("INSERT", "UPDATE")) for s in statements)
    assert _audit_rows() == before  # a 304 shows nothing


def test_a_changed_thread_sends_the_new_messages_and_version(world, browsers):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client, tag = browsers(world.patient), _version_tag(world.patient, thread_id)
    assert _poll(client, thread_id, tag).status_code == 304

    thread = db.session.get(MessageThread, thread_id)
    add_message(thread, world.staff[Role.PEER], "NEW-REPLY-4411")
    response = _poll(client, thread_id, tag)

    assert response.status_code == 200
    assert "NEW-REPLY-4411" in response.get_data(as_text=True)
    assert response.headers["ETag"] == _version_tag(world.patient, thread_id)


def test_a_poll_answered_304_does_not_move_last_seen(world, browsers):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client, tag = browsers(world.patient), _version_tag(world.patient, thread_id)
    stale = utcnow() - timedelta(minutes=5)
    _session_row(world.patient).last_seen_at = stale
    db.session.flush()

    assert _poll(client, thread_id, tag).status_code == 304

    db.session.expire_all()
    assert _session_row(world.patient).last_seen_at == stale


# ---- who may ask ---------------------------------------------


def test_another_patients_thread_is_404(world, browsers):
    thread_id = thread_id_for(world.patient_b, world.patient_b, "not yours")
    client = browsers(world.patient)
    response = _poll(client, thread_id, _version_tag(world.patient, thread_id))
    assert response.status_code == 404


def test_an_unknown_thread_is_404(world, browsers):
    client = browsers(world.patient)
    unknown = "0b7c6a7e-4f0e-4d53-9d55-8d2f0c1e2a3b"
    assert _poll(client, unknown, '"0.0"').status_code == 404
    assert _poll(client, unknown, "*").status_code == 404


def test_no_cookie_is_sent_to_sign_in(world, app):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    response = _poll(app.test_client(), thread_id, "*")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


@pytest.mark.parametrize(
    ("column", "config_key"),
    [("last_seen_at", "IDLE_TIMEOUT_PATIENT"), ("created_at", "ABSOLUTE_TIMEOUT")],
)
def test_an_expired_session_is_ended(column, config_key, world, app, browsers):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client, tag = browsers(world.patient), _version_tag(world.patient, thread_id)
    assert _poll(client, thread_id, tag).status_code == 304
    past = utcnow() - timedelta(seconds=app.config[config_key] + 5)
    setattr(_session_row(world.patient), column, past)
    db.session.flush()

    response = _poll(client, thread_id, tag)

    assert response.status_code == 302 and "away=1" in response.headers["Location"]
    assert _session_row(world.patient) is None  # the session row is deleted


def test_a_deactivated_user_is_signed_out(world, browsers):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client, tag = browsers(world.patient), _version_tag(world.patient, thread_id)
    assert _poll(client, thread_id, tag).status_code == 304
    db.session.execute(
        update(User).where(User.id == world.patient.id).values(is_active=False)
    )

    response = _poll(client, thread_id, tag)

    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_staff_without_the_second_factor_are_sent_to_sign_in(world, browsers):
    peer = world.staff[Role.PEER]
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client, tag = browsers(peer), _version_tag(peer, thread_id)
    assert _poll(client, thread_id, tag).status_code == 304
    _session_row(peer).mfa_passed = False
    db.session.flush()

    response = _poll(client, thread_id, tag)

    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_an_admin_is_404(world, browsers):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client = browsers(world.admin)
    tag = _version_tag(world.admin, thread_id)
    assert _poll(client, thread_id, tag).status_code == 404
    assert _poll(client, thread_id, "*").status_code == 404


def test_withdrawn_consent_is_404(world, browsers):
    therapist = world.staff[Role.THERAPIST]
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    patient = browsers(world.patient)
    _consent(patient, therapist)
    client, tag = browsers(therapist), _version_tag(therapist, thread_id)
    assert _poll(client, thread_id, tag).status_code == 304

    post_form(patient, "/messages/sharing", {})

    assert _poll(client, thread_id, tag).status_code == 404


def test_a_peer_outside_the_patients_care_is_404(world, browsers):
    from tests import factories as f

    other_peer = f.UserFactory(staff=True, role=Role.PEER, display_name="Peer Two")
    f.StaffMembershipFactory(user_id=other_peer.id, program_id=world.program.id)
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client = browsers(other_peer)
    response = _poll(client, thread_id, _version_tag(other_peer, thread_id))
    assert response.status_code == 404  # A's own peer is present: not this one's


def test_a_peer_of_another_program_is_404(world, browsers):
    from tests import factories as f

    elsewhere = f.UserFactory(staff=True, role=Role.PEER, display_name="Peer Far")
    f.StaffMembershipFactory(user_id=elsewhere.id, program_id=world.other_program.id)
    peer = world.staff[Role.PEER]
    thread_id = thread_id_for(world.patient_b, world.patient_b, "anyone there?")
    # B has no peer: every peer of B's program reads it, this one included.
    tag = _version_tag(peer, thread_id)
    assert _poll(browsers(peer), thread_id, tag).status_code == 304

    client = browsers(elsewhere)
    response = _poll(client, thread_id, _version_tag(elsewhere, thread_id))
    assert response.status_code == 404


# ---- the inbox -----------------------------------------------------------------------


def _inbox_tag(client) -> str:
    """The inbox's ETag as the app gives it (asked without If-None-Match)."""
    response = client.get("/messages/inbox/updates")
    assert response.status_code == 200
    return response.headers["ETag"]


def _inbox_poll(client, tag: str):
    return client.get("/messages/inbox/updates", headers={"If-None-Match": tag})


@pytest.mark.parametrize("who", [Role.PEER, Role.THERAPIST, Role.DIRECTOR])
def test_an_unchanged_inbox_answers_304_with_no_body_and_no_audit_row(
    who, world, browsers, query_counter
):
    thread_id_for(world.patient, world.patient, "hello")
    thread_id_for(world.patient_b, world.patient_b, "hi")
    staff = world.director if who is Role.DIRECTOR else world.staff[who]
    client = browsers(staff)
    tag = _inbox_tag(client)

    before = _audit_rows()
    response, statements = _statements_of(
        query_counter, lambda: _inbox_poll(client, tag)
    )

    assert response.status_code == 304 and response.data == b""
    assert response.headers["ETag"] == tag
    assert len(statements) <= POLL_BUDGET, statements
    assert _audit_rows() == before


def test_an_empty_inbox_has_the_apps_version(world, browsers, query_counter):
    from tests import factories as f

    elsewhere = f.UserFactory(staff=True, role=Role.PEER, display_name="Peer Far")
    f.StaffMembershipFactory(user_id=elsewhere.id, program_id=world.other_program.id)
    client = browsers(elsewhere)
    tag = _inbox_tag(client)
    response, statements = _statements_of(
        query_counter, lambda: _inbox_poll(client, tag)
    )
    assert tag == '"i0.0.0.0.0.0.0"'
    assert response.status_code == 304, statements
    assert len(statements) <= POLL_BUDGET, statements


def test_a_changed_inbox_sends_the_new_inbox(world, browsers):
    peer = world.staff[Role.PEER]
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    client = browsers(peer)
    tag = _inbox_tag(client)
    assert _inbox_poll(client, tag).status_code == 304

    add_message(db.session.get(MessageThread, thread_id), world.patient, "INBOX-NEWS")
    response = _inbox_poll(client, tag)

    assert response.status_code == 200 and response.headers["ETag"] != tag
    assert 'id="inbox" data-hx-swap-oob="true"' in response.get_data(as_text=True)


@pytest.mark.parametrize("who", ["patient", "admin"])
def test_no_inbox_for_patients_or_admins_is_404(who, world, browsers):
    client = browsers(getattr(world, who))
    assert _inbox_poll(client, '"i0.0.0.0.0.0.0"').status_code == 404
    assert _inbox_poll(client, "*").status_code == 404


@pytest.mark.parametrize("change", ["idle", "second factor", "deactivated"])
def test_an_inbox_check_without_a_live_signed_in_session_is_sent_to_sign_in(
    change, world, app, browsers
):
    peer = world.staff[Role.PEER]
    thread_id_for(world.patient, world.patient, "hello")
    client = browsers(peer)
    tag = _inbox_tag(client)
    assert _inbox_poll(client, tag).status_code == 304
    row = _session_row(peer)
    if change == "idle":
        row.last_seen_at = utcnow() - timedelta(
            seconds=app.config["IDLE_TIMEOUT_STAFF"] + 5
        )
    elif change == "second factor":
        row.mfa_passed = False
    else:
        db.session.execute(
            update(User).where(User.id == peer.id).values(is_active=False)
        )
    db.session.flush()

    response = _inbox_poll(client, tag)

    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
