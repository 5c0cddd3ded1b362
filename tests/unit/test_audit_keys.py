"""PORTAL_AUDIT_KEY: with a key the database does not hold, someone who can write rows
can neither make a row's hash nor re-link the chain around a deleted row; the key can
be adopted on a running log and rotated from a recorded sequence."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select, text, update

from portal import db
from portal.audit import (
    AuditChainHead,
    AuditEvent,
    BreakKind,
    audit,
    content_hash,
    link_hash,
    seal_chain,
    verify_chain,
)
from portal.config import ConfigError, build_config

KEY_A = b"a" * 16 + b"-first-audit-key-for-tests"
KEY_B = b"b" * 16 + b"-second-audit-key-for-tests"


@pytest.fixture
def empty_log(transaction):
    """An audit log with no rows, in this test's transaction: a chain counted from 1
    whatever other tests committed for real (PostgreSQL's race tests do)."""
    if transaction.dialect.name == "postgresql":
        transaction.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        transaction.execute(text("DELETE FROM audit_log"))
        transaction.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
    else:
        guards = (
            transaction.execute(
                text(
                    "SELECT sql FROM sqlite_master WHERE type='trigger' "
                    "AND tbl_name='audit_log'"
                )
            )
            .scalars()
            .all()
        )
        _drop_guards(transaction)
        transaction.execute(text("DELETE FROM audit_log"))
        for guard in guards:
            transaction.execute(text(guard))
    transaction.execute(text("DELETE FROM audit_chain_head"))


@pytest.fixture
def keyed(app, app_ctx, monkeypatch, empty_log):
    def use(*keys: tuple[int, bytes]) -> None:
        monkeypatch.setitem(app.config, "AUDIT_KEYS", keys)

    use((1, KEY_A))
    return use


def _write(n: int, label: str) -> list:
    rows = [audit("read", "checkin", patient_id=f"{label}{i}") for i in range(n)]
    seal_chain(db.session)
    return rows


def _drop_guards(connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
    else:
        connection.execute(text("DROP TRIGGER audit_log_no_delete"))
        connection.execute(text("DROP TRIGGER audit_log_seal_only"))


def test_a_keyed_row_hash_is_an_hmac_no_one_can_make_without_the_key(keyed):
    row = audit("read", "checkin", patient_id="p1")
    stored = db.session.get(AuditEvent, row.id)
    values = {c.name: getattr(stored, c.name) for c in AuditEvent.__table__.columns}
    assert stored.row_hash == content_hash(values, KEY_A)
    assert stored.row_hash != content_hash(values, None)


def test_a_row_hashed_without_the_key_is_refused(keyed):
    _write(2, "before")
    table = AuditEvent.__table__
    forged = {
        "at": db.utcnow(),
        "actor_id": None,
        "actor_role": "director",
        "patient_id": "p-forged",
        "action": "read",
        "data_kind": "checkin",
        "object_id": None,
        "ip": None,
        "outcome": "allowed",
        "detail": None,
    }
    forged["row_hash"] = content_hash(forged, None)  # all a database role can do
    forged_id = db.session.execute(
        table.insert().returning(table.c.id), forged
    ).scalar_one()
    seal_chain(db.session)
    assert db.session.get(AuditEvent, forged_id).chain_seq is None
    assert [b.kind for b in verify_chain(db.session).breaks] == [
        BreakKind.UNSEALED_ALTERED
    ]


def test_relinking_the_chain_around_a_deleted_row_is_caught_with_a_key(
    keyed, transaction
):
    rows = _write(5, "r")
    assert verify_chain(db.session).ok
    _drop_guards(transaction)
    gone = rows[2].id
    db.session.execute(text("DELETE FROM audit_log WHERE id=:i"), {"i": gone})
    # close the gap and recompute every link after it, as one without the key can
    later = db.session.execute(
        select(AuditEvent.id, AuditEvent.chain_seq, AuditEvent.row_hash)
        .where(AuditEvent.chain_seq.is_not(None))
        .order_by(AuditEvent.chain_seq)
    ).all()
    previous, seq = "0" * 64, 0
    for row_id, _old_seq, row_hash in later:
        seq += 1
        previous = hashlib.sha256((previous + row_hash).encode()).hexdigest()
        db.session.execute(
            update(AuditEvent.__table__)
            .where(AuditEvent.id == row_id)
            .values(chain_seq=-seq, chain_hash=previous)
        )
    db.session.execute(text("UPDATE audit_log SET chain_seq = -chain_seq"))
    db.session.execute(update(AuditChainHead).values(last_seq=seq, last_hash=previous))
    db.session.expire_all()
    result = verify_chain(db.session)
    assert not result.ok
    assert all(b.kind is BreakKind.UNLINKED for b in result.breaks)
    assert result.breaks[0].row_id == later[0][0]  # from the first link on


def test_the_wrong_key_breaks_every_row(keyed):
    _write(3, "w")
    keyed((1, KEY_B))
    result = verify_chain(db.session)
    altered = [b for b in result.breaks if b.kind is BreakKind.ALTERED]
    assert len(altered) == result.checked >= 3


def test_a_key_adopted_on_a_running_log_and_then_rotated_verifies(keyed):
    keyed()  # no key yet: plain SHA-256
    _write(2, "plain")
    head = db.session.get(AuditChainHead, 1).last_seq
    keyed((head + 1, KEY_A))  # adopted from the next sequence
    _write(2, "a")
    head = db.session.get(AuditChainHead, 1).last_seq
    keyed((head - 1, KEY_A), (head + 1, KEY_B))  # rotated
    _write(2, "b")
    assert verify_chain(db.session).ok
    keyed((head - 1, KEY_A))  # forgetting the new key breaks its rows, and only them
    assert [b.kind for b in verify_chain(db.session).breaks] == [
        BreakKind.UNLINKED,
        BreakKind.ALTERED,
        BreakKind.UNLINKED,
        BreakKind.ALTERED,
    ]


def test_link_hash_without_a_key_is_the_chain_the_log_always_had():
    assert link_hash("0" * 64, "ab") == hashlib.sha256(b"0" * 64 + b"ab").hexdigest()


@pytest.mark.parametrize(
    ("env", "keys"),
    [
        ({}, ()),
        ({"PORTAL_AUDIT_KEY": "k" * 32}, ((1, b"k" * 32),)),
        (
            {
                "PORTAL_AUDIT_KEY": "n" * 40,
                "PORTAL_AUDIT_KEY_SINCE": "900",
                "PORTAL_AUDIT_PREVIOUS_KEYS": f"20:{'o' * 32}",
            },
            ((20, b"o" * 32), (900, b"n" * 40)),
        ),
    ],
)
def test_audit_keys_are_read_from_the_environment(env, keys, tmp_path, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert build_config(tmp_path)["AUDIT_KEYS"] == keys


@pytest.mark.parametrize(
    "env",
    [
        {"PORTAL_AUDIT_KEY": "short"},
        {"PORTAL_AUDIT_KEY": "k" * 32, "PORTAL_AUDIT_KEY_SINCE": "0"},
        {"PORTAL_AUDIT_KEY": "k" * 32, "PORTAL_AUDIT_KEY_SINCE": "soon"},
        {"PORTAL_AUDIT_PREVIOUS_KEYS": f"1:{'o' * 32}"},
        {
            "PORTAL_AUDIT_KEY": "k" * 32,
            "PORTAL_AUDIT_KEY_SINCE": "5",
            "PORTAL_AUDIT_PREVIOUS_KEYS": f"9:{'o' * 32}",
        },
    ],
)
def test_unusable_audit_keys_stop_the_start(env, tmp_path, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError):
        build_config(tmp_path)
