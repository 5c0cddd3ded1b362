"""EHR clients and their short-lived tokens, the patient's consents to share their
record, and the accounting of every disclosure (allowed or refused)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, Timestamps, UUIDPk, utcnow


class ClientRole(StrEnum):
    """The audit log's role for a system client (it reads `actor.role.value`)."""

    SYSTEM = "system"


class FhirClient(UUIDPk, Timestamps, Base):
    """An EHR registered by a program: OAuth2 client credentials and SMART scopes."""

    __tablename__ = "fhir_clients"

    name: Mapped[str] = mapped_column(String(120))
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(1000))
    revoked_at: Mapped[datetime | None]
    # Public keys (a JWKS) for SMART Backend Services' private_key_jwt: registered
    # with the client, never fetched at run time.
    jwks: Mapped[dict | None] = mapped_column(JSON)

    role = ClientRole.SYSTEM
    is_staff = False

    def __repr__(self) -> str:
        return f"<FhirClient {self.id}>"


class FhirToken(Base):
    """A bearer token, stored as the SHA-256 of its value; it lives a few minutes."""

    __tablename__ = "fhir_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("fhir_clients.id", ondelete="CASCADE"), index=True
    )
    scopes: Mapped[str] = mapped_column(String(1000))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class FhirAssertion(Base):
    """A client assertion's jti, kept until the assertion expires: a second use of
    the same jti is a replay and is refused."""

    __tablename__ = "fhir_assertions"

    client_id: Mapped[str] = mapped_column(
        ForeignKey("fhir_clients.id", ondelete="CASCADE"), primary_key=True
    )
    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ExportStatus(StrEnum):
    ACCEPTED = "accepted"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


class FhirExport(UUIDPk, Timestamps, Base):
    """A Bulk Data export asked for by one client: its files are kept in the
    database (every app host can serve them), for that client only, until it expires."""

    __tablename__ = "fhir_exports"

    client_id: Mapped[str] = mapped_column(
        ForeignKey("fhir_clients.id", ondelete="CASCADE"), index=True
    )
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    status: Mapped[str] = mapped_column(String(12), default=ExportStatus.ACCEPTED)
    types: Mapped[str | None] = mapped_column(String(1000))
    since: Mapped[datetime | None]
    request_url: Mapped[str] = mapped_column(String(2000))
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    error: Mapped[str | None] = mapped_column(String(200))


class FhirExportFile(UUIDPk, Base):
    """One NDJSON file of an export: the resources of one type, one per line."""

    __tablename__ = "fhir_export_files"

    export_id: Mapped[str] = mapped_column(
        ForeignKey("fhir_exports.id", ondelete="CASCADE"), index=True
    )
    resource_type: Mapped[str] = mapped_column(String(40))
    count: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    # [patient id, record kind] of each line: consent is read again when the file
    # is fetched, and lines of a patient who has since withdrawn it are left out.
    lines: Mapped[list] = mapped_column(JSON, default=list)


class RecordConsent(UUIDPk, Base):
    """A patient's written consent to share kinds of their record with one recipient.

    Kinds are stored space-separated so that SQL can test one with LIKE on any
    database. A consent ends when revoked, replaced by a newer one, or expired.
    """

    __tablename__ = "record_consents"
    __table_args__ = (
        Index("ix_record_consents_patient_client", "patient_id", "client_id"),
        Index("ix_record_consents_client", "client_id", "revoked_at"),
    )

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    # The recipient: an EHR client (treatment), or for payment a payer by name
    # (`recipient`), who receives review packets and has no client of its own.
    client_id: Mapped[str | None] = mapped_column(ForeignKey("fhir_clients.id"))
    recipient: Mapped[str | None] = mapped_column(String(120))
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    kinds: Mapped[str] = mapped_column(String(200))
    # v3-ActReason: TREAT for an EHR, HPAYMT for a payer.
    purpose: Mapped[str] = mapped_column(String(20), default="TREAT")
    text_version: Mapped[str] = mapped_column(String(10))
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(20))

    @property
    def kind_list(self) -> list[str]:
        return self.kinds.split()

    @property
    def updated_at(self) -> datetime:
        return self.revoked_at or self.given_at


class Disclosure(UUIDPk, Base):
    """One release (or refusal) of one patient's data to one recipient."""

    __tablename__ = "disclosures"
    __table_args__ = (Index("ix_disclosures_patient_at", "patient_id", "at"),)

    at: Mapped[datetime] = mapped_column(default=utcnow)
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    # An EHR client, or a payer named in `recipient` (a review packet).
    client_id: Mapped[str | None] = mapped_column(
        ForeignKey("fhir_clients.id"), index=True
    )
    recipient: Mapped[str | None] = mapped_column(String(120))
    consent_id: Mapped[str | None] = mapped_column(ForeignKey("record_consents.id"))
    allowed: Mapped[bool] = mapped_column(Boolean)
    interaction: Mapped[str] = mapped_column(String(20))
    resource_types: Mapped[list] = mapped_column(JSON, default=list)
    resource_count: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(String(40))
