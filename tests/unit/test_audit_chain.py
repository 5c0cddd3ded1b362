"""The audit log is append-only in the database; sealing trusts no stored hash, and
verifying names every place where the chain was tampered with."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError

from portal import audit as audit_module
from portal import db
from portal.audit import (
    AuditEvent,
    BreakKind,
    audit,
    seal_chain,
    verify_chain,
)
from portal.db import utcnow


@pytest.fixture
def events(app_ctx, transaction):
    rows = [audit("read", "schedule", patient_id=f"p{n}") for n in range(5)]
    db.session.flush()
    seal_chain(db.session)
    return rows


def _seq(record) -> int:
    return db.session.get(AuditEvent, record.id).chain_seq


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
    assert [str(b) for b in result.breaks] == [
        f"row id {events[2].id} (sequence {_seq(events[2])}) was altered: its "
        "content does not match its hash"
    ]


def test_a_deleted_row_is_named(events, transaction):
    _drop_guards(transaction)
    db.session.expire_all()
    seq = db.session.get(AuditEvent, events[1].id).chain_seq
    db.session.execute(text("DELETE FROM audit_log WHERE id=:i"), {"i": events[1].id})
    db.session.expire_all()
    result = verify_chain(db.session)
    assert [str(b) for b in result.breaks] == [
        f"sequence {seq} is missing (before row id {events[2].id})"
    ]


def test_deleting_the_newest_rows_is_caught_by_the_chain_head(events, transaction):
    _drop_guards(transaction)
    db.session.execute(text("DELETE FROM audit_log WHERE id=:i"), {"i": events[-1].id})
    db.session.expire_all()
    result = verify_chain(db.session)
    seq = result.head_seq
    assert [str(b) for b in result.breaks] == [
        f"sequence {seq} is missing at the end (the chain head counts them)"
    ]


def test_rows_written_while_sealing_are_sealed_next_round(events):
    audit("read", "schedule", patient_id="late")
    db.session.flush()
    assert verify_chain(db.session).unsealed == 1
    assert seal_chain(db.session) == 1
    assert verify_chain(db.session).ok


def test_requests_write_audit_rows_without_touching_the_chain_head(client, login_as):
    from portal.security import Role

    login_as(Role.PATIENT)
    client.get("/")
    newest = db.session.scalars(
        select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)
    ).one()
    assert newest.action == "read" and newest.data_kind == "schedule"
    assert newest.chain_seq is None  # linked later, off the request path


def _insert_row(row_hash: str, **content) -> int:
    """A row written straight to the table, as someone with INSERT rights could."""
    values = {
        "at": utcnow(),
        "actor_id": None,
        "actor_role": "therapist",
        "patient_id": "forged-patient",
        "action": "read",
        "data_kind": "checkin",
        "object_id": None,
        "ip": None,
        "outcome": "allowed",
        "detail": None,
        **content,
        "row_hash": row_hash,
    }
    table = AuditEvent.__table__
    return db.session.execute(insert(table).returning(table.c.id), values).scalar_one()


@pytest.fixture
def fresh_refusals(monkeypatch):
    """Refusals are logged once per process; each test starts with none logged."""
    monkeypatch.setattr(audit_module, "_refused", set())


def test_a_row_inserted_with_a_made_up_hash_is_not_sealed(
    events, fresh_refusals, caplog
):
    forged = _insert_row("f" * 64)
    after = audit("read", "schedule", patient_id="after-the-forged-one")
    with caplog.at_level(logging.ERROR, logger="portal.audit"):
        assert seal_chain(db.session) == 1  # the row after it, not the forged one
        assert seal_chain(db.session) == 0
    db.session.expire_all()
    assert db.session.get(AuditEvent, forged).chain_seq is None
    assert db.session.get(AuditEvent, after.id).chain_seq is not None
    assert caplog.messages == [
        f"audit row {forged} does not match its hash; not sealed"
    ]  # once, by id only
    result = verify_chain(db.session)
    assert [str(b) for b in result.breaks] == [
        f"row id {forged} (not sealed) does not match its hash, so sealing refuses it"
    ]


def test_a_row_altered_before_sealing_is_not_sealed(events, transaction):
    row = audit("read", "checkin", patient_id="p-before")
    _drop_guards(transaction)
    db.session.execute(
        text("UPDATE audit_log SET patient_id='someone-else' WHERE id=:i"),
        {"i": row.id},
    )
    assert seal_chain(db.session) == 0
    assert not verify_chain(db.session).ok


def test_refused_rows_do_not_stop_a_batch_from_filling(events, fresh_refusals):
    forged = [_insert_row("0" * 64) for _ in range(3)]
    good = [audit("read", "schedule", patient_id=f"g{n}") for n in range(2)]
    assert seal_chain(db.session, batch=2) == 2
    db.session.expire_all()
    assert all(db.session.get(AuditEvent, r.id).chain_seq for r in good)
    assert not any(db.session.get(AuditEvent, i).chain_seq for i in forged)


def test_verify_lists_every_break_not_only_the_first(events, transaction):
    more = [audit("read", "schedule", patient_id=f"q{n}") for n in range(4)]
    seal_chain(db.session)
    rows = [*events, *more]
    _drop_guards(transaction)
    db.session.execute(
        text("UPDATE audit_log SET action='export' WHERE id IN (:a, :b)"),
        {"a": rows[1].id, "b": rows[6].id},
    )
    db.session.execute(
        text("UPDATE audit_log SET chain_hash=:h WHERE id=:i"),
        {"h": "1" * 64, "i": rows[4].id},
    )
    gone = _seq(rows[7])
    db.session.execute(text("DELETE FROM audit_log WHERE id=:i"), {"i": rows[7].id})
    db.session.expire_all()
    result = verify_chain(db.session)
    assert [(b.kind, b.row_id) for b in result.breaks] == [
        (BreakKind.ALTERED, rows[1].id),
        (BreakKind.UNLINKED, rows[4].id),  # its own link is wrong,
        (BreakKind.UNLINKED, rows[5].id),  # and the next row does not link to it
        (BreakKind.ALTERED, rows[6].id),
        (BreakKind.MISSING, rows[8].id),
    ]
    assert result.breaks[-1].seq == gone
