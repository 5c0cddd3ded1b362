"""Which sources each FHIR resource type is made from, and how a row becomes a resource.

Features that land later (help requests, messages) add their types with `register`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from portal import db
from portal.blueprints.programs.models import Enrollment
from portal.blueprints.record import sources
from portal.blueprints.record.fhir import (
    appointment,
    audit_event,
    communication,
    consent,
    coverage,
    encounter,
    facets,
    flag,
    observation,
    patient,
    questionnaire_response,
    risk_assessment,
    service_request,
    task,
)
from portal.blueprints.record.fhir.common import MapContext
from portal.blueprints.record.kinds import RecordKind
from portal.blueprints.record.models import RecordConsent
from portal.blueprints.record.sources import Source

Mapper = Callable[[tuple, MapContext], dict]


@dataclass(frozen=True)
class Part:
    """Rows of one source that become resources of one type."""

    source: Source
    to_fhir: Mapper
    # Practitioners the resource names (to include them in $everything).
    practitioners: Callable[[tuple], list[str]] = lambda row: []
    # The column naming the recipient, for rows a client may see only about itself.
    recipient_column: Callable | None = None
    # The token values (code, category, status...) its resources carry.
    facets: Callable[[MapContext], facets.Facets] = lambda ctx: {}
    # More columns the mapper reads, for this client (after the row's `when`).
    columns: Callable | None = None

    def rows(self, client, **filters) -> list:
        """The source's rows, narrowed to this client where the part says so."""
        return db.session.execute(self.statement(client, **filters)).all()

    def statement(self, client, where=(), **filters):
        stmt = self.source.statement(**filters).where(*where)
        if self.recipient_column is not None:
            stmt = stmt.where(self.recipient_column() == client.id)
        if self.columns is not None:
            stmt = stmt.add_columns(*self.columns(client))
        return stmt

    @property
    def kind(self) -> RecordKind | None:
        return self.source.kind


PARTS: dict[str, tuple[Part, ...]] = {}
# Patient-compartment types in the order $everything lists them.
EVERYTHING_ORDER: list[str] = []
# Types served by search only (too many to put in $everything).
SEARCH_ONLY = {"AuditEvent"}
OTHER_TYPES = ("Practitioner", "Organization")


def register(resource_type: str, *parts: Part) -> None:
    PARTS[resource_type] = PARTS.get(resource_type, ()) + parts
    if resource_type not in EVERYTHING_ORDER and resource_type not in SEARCH_ONLY:
        EVERYTHING_ORDER.append(resource_type)


def all_types() -> list[str]:
    return sorted({*OTHER_TYPES, *PARTS})


def token_params(resource_type: str, ctx: MapContext) -> dict[str, list]:
    """The token parameters a type can be searched by, with every part's values."""
    names: dict[str, list] = {}
    for part in PARTS.get(resource_type, ()):
        for name, values in part.facets(ctx).items():
            names.setdefault(name, []).extend(values)
    return names


register(
    "Patient",
    Part(
        sources.PATIENTS,
        lambda row, ctx: patient.patient(
            row[0], ctx, row.mobile_phone, row.date_of_birth
        ),
        columns=lambda client: [
            patient.from_enrollment_in(client.program_id, Enrollment.mobile_phone),
            patient.from_enrollment_in(client.program_id, Enrollment.date_of_birth),
        ],
    ),
)
register(
    "Observation",
    Part(
        sources.CHECKINS,
        lambda row, ctx: observation.checkin_observation(row[0], ctx),
        facets=facets.checkin,
    ),
    Part(
        sources.SCREENERS,
        lambda row, ctx: observation.screener_observation(row[0], ctx),
        facets=facets.screener_observation,
    ),
)
register(
    "QuestionnaireResponse",
    Part(
        sources.SCREENERS,
        lambda row, ctx: questionnaire_response.questionnaire_response(row[0], ctx),
        facets=facets.questionnaire_response,
    ),
)
register(
    "Flag",
    Part(
        sources.RISK_FLAGS,
        lambda row, ctx: flag.flag(row[0], ctx),
        facets=facets.flag,
    ),
)
register(
    "RiskAssessment",
    Part(
        sources.RISK_ASSESSMENTS,
        lambda row, ctx: risk_assessment.risk_assessment(row[0], ctx),
        practitioners=lambda row: [row[0].assessed_by_id],
        facets=facets.risk_assessment,
    ),
)
register(
    "Appointment",
    Part(
        sources.APPOINTMENTS,
        lambda row, ctx: appointment.appointment(row[0], row[1], ctx),
        practitioners=lambda row: [row[0].staff_id],
        facets=facets.appointment,
    ),
)
register(
    "Encounter",
    Part(
        sources.ATTENDANCE,
        lambda row, ctx: encounter.encounter(row[0], row[1], row[2], ctx),
        practitioners=lambda row: [row[1].facilitator_id],
        facets=facets.encounter,
    ),
)
register(
    "ServiceRequest",
    Part(
        sources.NEEDS,
        lambda row, ctx: service_request.service_request(row[0], row[1], ctx),
        practitioners=lambda row: [row[0].owner_id],
        facets=facets.service_request,
    ),
)
register(
    "Task",
    Part(
        sources.NEEDS,
        lambda row, ctx: task.task(row[0], row[1], ctx),
        practitioners=lambda row: [row[0].owner_id],
        facets=facets.task,
    ),
)
register(
    "Communication",
    Part(
        sources.MESSAGES,
        lambda row, ctx: communication.communication(
            row[0], row[1], row[2], row[3], ctx
        ),
        practitioners=lambda row: [] if row[2] == "patient" else [row[0].author_id],
        facets=facets.communication,
    ),
)
register(
    "Consent",
    Part(
        sources.CONSENTS,
        lambda row, ctx: consent.consent(row[0], row[1], row[2], ctx),
        # A recipient sees the consents given to it, never those given to others.
        recipient_column=lambda: RecordConsent.client_id,
        facets=facets.consent,
    ),
)
register(
    "AuditEvent",
    Part(
        sources.AUDIT,
        lambda row, ctx: audit_event.audit_event(row[0], row[1], row[2], ctx),
    ),
)
register(
    "Coverage",
    Part(
        sources.COVERAGES,
        lambda row, ctx: coverage.coverage(row[0], ctx),
        facets=facets.coverage,
    ),
)
register(
    "ClaimResponse",
    Part(
        sources.AUTHORIZATIONS,
        lambda row, ctx: coverage.claim_response(row[0], row[1], ctx),
        facets=facets.coverage,
    ),
)
