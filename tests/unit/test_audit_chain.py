"""The audit log is append-only in the database and its hash chain names tampering."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from portal import db
from portal.audit import AuditEvent, audit, seal_chain, verify_chain


@pytest.fixture
def events(app_ctx, transaction):
    rows = [audit("read", "schedule", patient_id=f"p{n}") for n in range(5)]
    db.session.flush()
    seal_chain(db.session)
    return rows


def _drop_guards(connection) -> None:
    """What an attacker with database rights would do first."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
    else:
        connection.execute(text("DROP TRIGGER audit_log_no_delete"))
        connection.execute(text("DROP TRIGGER audit_log_seal_only"))


def test_sealed_chain_verifies(events):
    result = verify_chain(db.session)
    assert result.ok and result.checked >= 5 and result.unsealed == 0


def test_rows_cannot_be_changed_or_deleted(events, transaction):
    with pytest.raises(DBAPIError), db.session.begin_nested():
        db.session.execute(
            text("UPDATE audit_log SET action='x' WHERE id=:i"), {"i": events[0].id}
        )
    with pytest.raises(DBAPIError), db.session.begin_nested():
        db.session.execute(
            text("DELETE FROM audit_log WHERE id=:i"), {"i": events[1].id}
        )


def test_an_altered_row_is_named(events, transaction):
    _drop_guards(transaction)
    db.session.execute(
        text("UPDATE audit_log SET patient_id='someone-else' WHERE id=:i"),
        {"i": events[2].id},
    )
    db.session.expire_all()
    result = verify_chain(db.session)
    assert not result.ok
    assert f"row id {events[2].id}" in result.problem and "altered" in result.problem


def test_a_deleted_row_is_named(events, transaction):
    _drop_guards(transaction)
    db.session.expire_all()
    seq = db.session.get(AuditEvent, events[1].id).chain_seq
    db.session.execute(text("DELETE FROM audit_log WHERE id=:i"), {"i": events[1].id})
    db.session.expire_all()
    result = verify_chain(db.session)
    assert not result.ok and f"sequence {seq} is missing" in result.problem


def test_deleting_the_newest_rows_is_caught_by_the_chain_head(events, transaction):
    _drop_guards(transaction)
    db.session.execute(text("DELETE FROM audit_log WHERE id=:i"), {"i": events[-1].id})
    db.session.expire_all()
    result = verify_chain(db.session)
    assert not result.ok and "missing" in result.problem


def test_rows_written_while_sealing_are_sealed_next_round(events):
    audit("read", "schedule", patient_id="late")
    db.session.flush()
    assert verify_chain(db.session).unsealed == 1
    assert seal_chain(db.session) == 1
    assert verify_chain(db.session).ok


def test_requests_write_audit_rows_without_touching_the_chain_head(client, login_as):
    from portal.blueprints.auth.models import Role

    login_as(Role.PATIENT)
    client.get("/")
    newest = db.session.scalars(
        select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)
    ).one()
    assert newest.action == "read" and newest.data_kind == "schedule"
    assert newest.chain_seq is None  # linked later, off the request path
