"""Part 2 consent: giving, replacing and revoking it; deciding, at every request, what
may leave for one recipient; and recording every disclosure, allowed or refused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import String, and_, func, literal, select

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import Enrollment, Program
from portal.blueprints.record.kinds import RecordKind
from portal.blueprints.record.models import (
    Disclosure,
    FhirClient,
    RecordConsent,
)
from portal.db import utcnow

CONSENT_TEXT_VERSION = "1"
DURATIONS = {"3": 91, "6": 182, "12": 365}  # months offered -> days

REFUSALS = {
    "no-consent": "This patient's records are protected by 42 CFR Part 2 and the "
    "patient has not consented to share them with this recipient.",
    "revoked": "This patient's records are protected by 42 CFR Part 2 and the "
    "patient has revoked their consent to share them with this recipient.",
    "expired": "This patient's records are protected by 42 CFR Part 2 and the "
    "patient's consent to share them with this recipient has expired.",
    "not-covered": "The patient's consent to share with this recipient does not "
    "cover this kind of data",
}


class ConsentError(ValueError):
    """A consent that cannot be given as asked; the message says why in plain words."""


# ---- the patient's side --------------------------------------------------------------


def recipients_for(program_id: str) -> list[FhirClient]:
    """The program's registered EHRs that a patient may share with."""
    return list(
        db.session.scalars(
            select(FhirClient)
            .where(FhirClient.program_id == program_id, FhirClient.revoked_at.is_(None))
            .order_by(FhirClient.name)
        )
    )


def consents_of(patient_id: str) -> list[RecordConsent]:
    """Every consent the patient has given, newest first (ended ones too)."""
    return list(
        db.session.scalars(
            select(RecordConsent)
            .where(RecordConsent.patient_id == patient_id)
            .order_by(RecordConsent.given_at.desc())
        )
    )


def is_active(consent: RecordConsent) -> bool:
    return consent.revoked_at is None and consent.expires_at > utcnow()


def give_consent(
    patient: User, client: FhirClient, kinds: list[str], months: str
) -> RecordConsent:
    """Consent to share these kinds with one recipient; replaces any current one."""
    if not kinds:
        raise ConsentError("Choose at least one kind of information to share.")
    if months not in DURATIONS:
        raise ConsentError("Choose how long to share.")
    now = utcnow()
    for current in _active(patient.id, client.id):
        current.revoked_at, current.ended_reason = now, "replaced"
    consent = RecordConsent(
        patient_id=patient.id,
        client_id=client.id,
        program_id=client.program_id,
        kinds=" ".join(sorted(set(kinds))),
        text_version=CONSENT_TEXT_VERSION,
        given_at=now,
        expires_at=now + timedelta(days=DURATIONS[months]),
    )
    db.session.add(consent)
    db.session.flush()
    audit("create", "consent", patient_id=patient.id, object_id=consent.id)
    return consent


def revoke_consent(patient: User, consent: RecordConsent) -> None:
    """Stop sharing now: the next request from the recipient is refused."""
    if consent.revoked_at is None:
        consent.revoked_at, consent.ended_reason = utcnow(), "revoked"
        db.session.flush()
    audit("update", "consent", patient_id=patient.id, object_id=consent.id)


def _active(patient_id: str, client_id: str) -> list[RecordConsent]:
    return list(
        db.session.scalars(
            select(RecordConsent).where(
                RecordConsent.patient_id == patient_id,
                RecordConsent.client_id == client_id,
                RecordConsent.revoked_at.is_(None),
            )
        )
    )


def disclosures_of(patient_id: str, limit: int = 200) -> list:
    """Who received (or was refused) what, newest first: (Disclosure, recipient),
    the recipient an EHR client or a payer."""
    return db.session.execute(
        select(Disclosure, func.coalesce(FhirClient.name, Disclosure.recipient))
        .outerjoin(FhirClient, Disclosure.client_id == FhirClient.id)
        .where(Disclosure.patient_id == patient_id)
        .order_by(Disclosure.at.desc())
        .limit(limit)
    ).all()


# ---- payment: a payer receives a review packet ---------------------------------

PAYMENT = "HPAYMT"  # v3-ActReason: healthcare payment
# What a concurrent-review packet holds: the consent names these kinds.
PAYMENT_KINDS = (
    RecordKind.ATTENDANCE,
    RecordKind.CHECKIN,
    RecordKind.SCREENER,
    RecordKind.RISK,
    RecordKind.NEED,
)


def give_payment_consent(
    patient: User, program_id: str, payer: str, months: str
) -> RecordConsent:
    """Consent to send the payer what it needs to pay for the patient's care (one
    consent for payment, as the 2024 Part 2 rule allows); replaces a current one."""
    if months not in DURATIONS:
        raise ConsentError("Choose how long to share.")
    now = utcnow()
    for current in _active_payment(patient.id, payer):
        current.revoked_at, current.ended_reason = now, "replaced"
    consent = RecordConsent(
        patient_id=patient.id,
        client_id=None,
        recipient=payer,
        program_id=program_id,
        kinds=" ".join(sorted(PAYMENT_KINDS)),
        purpose=PAYMENT,
        text_version=CONSENT_TEXT_VERSION,
        given_at=now,
        expires_at=now + timedelta(days=DURATIONS[months]),
    )
    db.session.add(consent)
    db.session.flush()
    audit("create", "consent", patient_id=patient.id, object_id=consent.id)
    return consent


def _active_payment(patient_id: str, payer: str) -> list[RecordConsent]:
    return list(
        db.session.scalars(
            select(RecordConsent).where(
                RecordConsent.patient_id == patient_id,
                RecordConsent.purpose == PAYMENT,
                RecordConsent.recipient == payer,
                RecordConsent.revoked_at.is_(None),
            )
        )
    )


def decide_payment(program: Program, patient_id: str, payer: str) -> Decision:
    """May a review packet go to this payer now? Outside Part 2, yes (HIPAA allows
    disclosure for payment); in a Part 2 program, only with the patient's current
    consent for payment to this payer."""
    if not program.substance_use:
        return Decision(True, False)
    latest = db.session.scalar(
        select(RecordConsent)
        .where(
            RecordConsent.patient_id == patient_id,
            RecordConsent.program_id == program.id,
            RecordConsent.purpose == PAYMENT,
            RecordConsent.recipient == payer,
        )
        .order_by(RecordConsent.given_at.desc())
        .limit(1)
    )
    if latest is None:
        return Decision(False, True, reason="no-consent")
    if latest.revoked_at is not None:
        return Decision(False, True, latest, "revoked")
    if latest.expires_at <= utcnow():
        return Decision(False, True, latest, "expired")
    return Decision(True, True, latest)


def record_payment_disclosure(
    actor: User, patient_id: str, payer: str, decision: Decision, packet_id: str
) -> None:
    """The accounting row the patient sees (the payer as recipient) and the audit
    row, for a review packet sent to a payer."""
    db.session.add(
        Disclosure(
            patient_id=patient_id,
            client_id=None,
            recipient=payer,
            consent_id=decision.consent.id if decision.consent else None,
            allowed=True,
            interaction="review-packet",
            resource_types=["ReviewPacket"],
            resource_count=1,
        )
    )
    audit(
        "disclose",
        "review_packet",
        patient_id=patient_id,
        object_id=packet_id,
        actor=actor,
        detail="to the payer for payment",
    )


# ---- the recipient's side ------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What may leave for one patient and one recipient, and why not if nothing."""

    allowed: bool
    part2: bool
    consent: RecordConsent | None = None
    reason: str | None = None

    def covers(self, kind: RecordKind | None) -> bool:
        if not self.allowed:
            return False
        if not self.part2 or kind is None:
            return True
        return kind in self.consent.kind_list

    @property
    def message(self) -> str:
        return REFUSALS.get(self.reason or "", "")


def decide(client: FhirClient, program: Program, patient_id: str) -> Decision:
    """Read the patient's consent now, never cached: revocation works at once."""
    if not program.substance_use:
        return Decision(True, False)
    latest = db.session.scalar(
        select(RecordConsent)
        .where(
            RecordConsent.patient_id == patient_id,
            RecordConsent.client_id == client.id,
            RecordConsent.program_id == program.id,
        )
        .order_by(RecordConsent.given_at.desc())
        .limit(1)
    )
    if latest is None:
        return Decision(False, True, reason="no-consent")
    if latest.revoked_at is not None:
        return Decision(False, True, latest, "revoked")
    if latest.expires_at <= utcnow():
        return Decision(False, True, latest, "expired")
    return Decision(True, True, latest)


def enrolled_patients(program_id: str):
    return select(Enrollment.patient_id).where(Enrollment.program_id == program_id)


def is_enrolled(program_id: str, patient_id: str) -> bool:
    return (
        db.session.scalar(
            enrolled_patients(program_id)
            .where(Enrollment.patient_id == patient_id)
            .limit(1)
        )
        is not None
    )


def shareable_patients(
    client: FhirClient, program: Program, kind: RecordKind | None
) -> Callable:
    """SQL filter for a patient column: the program's patients whose data of this kind
    may go to this client (all of them outside Part 2; else those who consented)."""
    enrolled = enrolled_patients(program.id)
    if not program.substance_use:
        return lambda column: column.in_(enrolled)
    conditions = [
        RecordConsent.client_id == client.id,
        RecordConsent.program_id == program.id,
        RecordConsent.revoked_at.is_(None),
        RecordConsent.expires_at > utcnow(),
        RecordConsent.patient_id.in_(enrolled),
    ]
    if kind is not None:
        padded = literal(" ", String) + RecordConsent.kinds + literal(" ", String)
        conditions.append(padded.like(f"% {kind.value} %"))
    consented = select(RecordConsent.patient_id).where(and_(*conditions))
    return lambda column: column.in_(consented)


def record_disclosure(
    client: FhirClient,
    patient_id: str,
    *,
    interaction: str,
    resource_types: list[str],
    count: int,
    decision: Decision,
    reason: str | None = None,
) -> None:
    """The accounting row the patient sees, and the audit row (the client as actor)."""
    allowed = decision.allowed and reason is None
    reason = reason or decision.reason
    db.session.add(
        Disclosure(
            patient_id=patient_id,
            client_id=client.id,
            consent_id=decision.consent.id if decision.consent else None,
            allowed=allowed,
            interaction=interaction,
            resource_types=sorted(set(resource_types)),
            resource_count=count,
            reason=reason,
        )
    )
    audit(
        "disclose",
        f"fhir_{interaction}",
        patient_id=patient_id,
        outcome=Outcome.ALLOWED if allowed else Outcome.DENIED,
        actor=client,
        detail=_detail(resource_types, count, reason),
    )


def _detail(resource_types: list[str], count: int, reason: str | None) -> str:
    text = f"{count} resources: {','.join(sorted(set(resource_types)))}"
    if reason:
        text = f"refused ({reason}); {text}"
    return text[:200]
