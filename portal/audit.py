"""Append-only, hash-chained audit log.

A request inserts its row with a hash of the row's own content and nothing else, so
requests never wait on one another. A separate sealing step (`portal audit seal`, run by
the worker every few seconds) links the new rows in order: chain_hash(n) =
sha256(chain_hash(n-1) + row_hash(n)), and records the head in `audit_chain_head`.
`verify_chain` names the first row whose content, place or link does not match.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache

from flask import g, has_request_context, request
from sqlalchemy import BigInteger, Integer, String, func, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal import db
from portal.db import Base, utcnow

GENESIS = "0" * 64


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


class AuditEvent(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[str | None] = mapped_column(String(36), index=True)
    actor_role: Mapped[str | None] = mapped_column(String(20))
    patient_id: Mapped[str | None] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(40))
    data_kind: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    outcome: Mapped[str] = mapped_column(String(10))
    detail: Mapped[str | None] = mapped_column(String(200))
    row_hash: Mapped[str] = mapped_column(String(64))
    chain_seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    chain_hash: Mapped[str | None] = mapped_column(String(64))


class AuditChainHead(Base):
    """One row: the last sealed sequence and hash (locked by sealing, not requests)."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
    sealed_at: Mapped[datetime | None]


HASHED_FIELDS = (
    "at",
    "actor_id",
    "actor_role",
    "patient_id",
    "action",
    "data_kind",
    "object_id",
    "ip",
    "outcome",
    "detail",
)


def content_hash(event: AuditEvent) -> str:
    return _hash_of({name: getattr(event, name) for name in HASHED_FIELDS})


def _hash_of(values: dict) -> str:
    values = {name: values[name] for name in HASHED_FIELDS}
    values["at"] = values["at"].isoformat(timespec="microseconds")
    payload = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def link_hash(previous: str, row_hash: str) -> str:
    return hashlib.sha256((previous + row_hash).encode()).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """The row as written: its id and its content hash."""

    id: int
    row_hash: str


def audit(
    action: str,
    data_kind: str,
    *,
    patient_id: str | None = None,
    object_id: str | None = None,
    outcome: Outcome = Outcome.ALLOWED,
    actor=None,
    detail: str | None = None,
) -> AuditRecord:
    """Insert one audit row in the current transaction (committed with the request).

    A plain INSERT, not an ORM object: every patient page writes one, and the unit of
    work costs several times the statement itself (bench/README.md).
    """
    if actor is None and has_request_context():
        actor = g.get("actor")
    values = {
        "at": utcnow(),
        "actor_id": getattr(actor, "id", None),
        "actor_role": actor.role.value if actor is not None else None,
        "patient_id": patient_id,
        "action": action,
        "data_kind": data_kind,
        "object_id": object_id,
        "ip": request.remote_addr if has_request_context() else None,
        "outcome": outcome.value,
        "detail": detail,
    }
    values["row_hash"] = _hash_of(values)
    # On the connection: the row refers to nothing pending in the ORM (no foreign
    # keys), so it needs no flush, and skips the ORM's execution path.
    row_id = db.session.connection().execute(_insert_statement(), values).scalar_one()
    return AuditRecord(row_id, values["row_hash"])


def audit_many(
    action: str,
    data_kind: str,
    subjects: list[tuple[str | None, str | None]],
    *,
    actor=None,
    detail: str | None = None,
) -> int:
    """One audit row per (patient_id, object_id), all in one statement: a list page
    audits every patient's row it shows without a query per row."""
    if not subjects:
        return 0
    if actor is None and has_request_context():
        actor = g.get("actor")
    common = {
        "at": utcnow(),
        "actor_id": getattr(actor, "id", None),
        "actor_role": actor.role.value if actor is not None else None,
        "action": action,
        "data_kind": data_kind,
        "ip": request.remote_addr if has_request_context() else None,
        "outcome": Outcome.ALLOWED.value,
        "detail": detail,
    }
    rows = []
    for patient_id, object_id in subjects:
        values = {**common, "patient_id": patient_id, "object_id": object_id}
        values["row_hash"] = _hash_of(values)
        rows.append(values)
    # With RETURNING, SQLAlchemy sends the rows as one multi-row INSERT (its cached
    # "insertmanyvalues"); a plain executemany would be one execution per row.
    db.session.execute(_insert_statement(), rows)
    return len(rows)


@cache
def _insert_statement():
    table = AuditEvent.__table__
    return insert(table).returning(table.c.id)


def _head_for_update(session: Session) -> AuditChainHead:
    head = session.execute(
        select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditChainHead(id=1, last_seq=0, last_hash=GENESIS)
        session.add(head)
        session.flush()
    return head


def seal_chain(session: Session, batch: int = 5000) -> int:
    """Link unsealed rows into the chain; returns how many were sealed. Commits."""
    head = _head_for_update(session)
    rows = session.execute(
        select(AuditEvent.id, AuditEvent.row_hash)
        .where(AuditEvent.chain_seq.is_(None))
        .order_by(AuditEvent.id)
        .limit(batch)
    ).all()
    seq, previous = head.last_seq, head.last_hash
    for row_id, row_hash in rows:
        seq += 1
        previous = link_hash(previous, row_hash)
        session.execute(
            update(AuditEvent)
            .where(AuditEvent.id == row_id)
            .values(chain_seq=seq, chain_hash=previous)
        )
    if rows:
        head.last_seq, head.last_hash, head.sealed_at = seq, previous, utcnow()
    session.commit()
    return len(rows)


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    unsealed: int
    problem: str | None = None


def verify_chain(session: Session) -> VerifyResult:
    """Walk the sealed chain in order and name the first altered or missing row."""
    head = session.get(AuditChainHead, 1)
    previous, expected_seq, checked = GENESIS, 1, 0
    query = (
        select(AuditEvent)
        .where(AuditEvent.chain_seq.is_not(None))
        .order_by(AuditEvent.chain_seq)
        .execution_options(yield_per=2000)
    )
    for event in session.scalars(query):
        if event.chain_seq != expected_seq:
            return VerifyResult(
                False,
                checked,
                0,
                f"row with sequence {expected_seq} "
                f"is missing (next found: id {event.id})",
            )
        if content_hash(event) != event.row_hash:
            return VerifyResult(
                False,
                checked,
                0,
                f"row id {event.id} (sequence {event.chain_seq}) was altered",
            )
        previous = link_hash(previous, event.row_hash)
        if previous != event.chain_hash:
            return VerifyResult(
                False,
                checked,
                0,
                f"row id {event.id} (sequence "
                f"{event.chain_seq}) does not link to the row before it",
            )
        expected_seq += 1
        checked += 1
    last_seq = head.last_seq if head else 0
    if checked != last_seq or (head and previous != head.last_hash):
        return VerifyResult(
            False,
            checked,
            0,
            f"rows after sequence {checked} are "
            f"missing (the chain head says {last_seq})",
        )
    unsealed = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.chain_seq.is_(None))
    )
    return VerifyResult(True, checked, unsealed)
