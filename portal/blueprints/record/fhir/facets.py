"""The token values (code, category, status, questionnaire) each source's resources
carry, with the SQL that selects the rows carrying each: searches filter, count and
page in SQL, and the CapabilityStatement lists a parameter only where one is here.

Each list is read beside its mapper: a value here is a value the mapper writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import false, or_, true

from portal.blueprints.checkins.instruments import (
    CSSRS_RISK_LOINC,
    QUESTIONNAIRES,
    Instrument,
)
from portal.blueprints.checkins.models import ScreenerResponse
from portal.blueprints.needs.models import Need, SdohCategory, TaskStatus
from portal.blueprints.record.fhir.common import (
    LOINC,
    OBSERVATION_CATEGORY,
    SDOH,
    MapContext,
)
from portal.blueprints.record.fhir.encounter import CAME
from portal.blueprints.record.fhir.flag import FLAG_CATEGORY
from portal.blueprints.record.fhir.questionnaire_response import (
    questionnaire_canonical,
)
from portal.blueprints.record.fhir.service_request import REQUEST_STATUS
from portal.blueprints.record.models import RecordConsent
from portal.blueprints.safety.models import FlagStatus, RiskFlag
from portal.blueprints.schedule.models import Appointment, AppointmentStatus, Attendance
from portal.db import utcnow


@dataclass(frozen=True)
class Facet:
    """One value a resource can carry; `where` selects its rows (None: every row)."""

    system: str | None
    code: str
    where: Callable | None = None


Facets = dict[str, list[Facet]]


def rows_matching(facets: list[Facet], alternatives) -> object:
    """The SQL condition for one occurrence of a token parameter: any alternative."""
    clauses = []
    for facet in facets:
        if any(token.matches(facet.system, facet.code) for token in alternatives):
            if facet.where is None:
                return true()
            clauses.append(facet.where())
    return or_(*clauses) if clauses else false()


def _status(*codes: str) -> list[Facet]:
    return [Facet(None, code) for code in codes]


SURVEY = [Facet(OBSERVATION_CATEGORY, "survey")]


def checkin(ctx: MapContext) -> Facets:
    return {
        "code": [Facet(ctx.code_system("checkin"), "daily-checkin")],
        "category": SURVEY,
        "status": _status("final"),
    }


def _instrument(instrument: Instrument) -> Callable:
    return lambda: ScreenerResponse.instrument == instrument


def screener_observation(ctx: MapContext) -> Facets:
    codes = [
        Facet(
            LOINC,
            questionnaire.total_loinc or CSSRS_RISK_LOINC,
            _instrument(instrument),
        )
        for instrument, questionnaire in QUESTIONNAIRES.items()
    ]
    return {"code": codes, "category": SURVEY, "status": _status("final")}


def questionnaire_response(ctx: MapContext) -> Facets:
    return {
        "questionnaire": [
            Facet(None, questionnaire_canonical(q), _instrument(instrument))
            for instrument, q in QUESTIONNAIRES.items()
        ],
        "status": _status("completed"),
    }


def flag(ctx: MapContext) -> Facets:
    resolved = FlagStatus.RESOLVED
    return {
        "category": [Facet(FLAG_CATEGORY, "safety")],
        "status": [
            Facet(None, "active", lambda: RiskFlag.status != resolved),
            Facet(None, "inactive", lambda: RiskFlag.status == resolved),
        ],
    }


def risk_assessment(ctx: MapContext) -> Facets:
    return {"status": _status("final")}


def appointment(ctx: MapContext) -> Facets:
    cancelled = AppointmentStatus.CANCELLED
    return {
        "status": [
            Facet(None, "booked", lambda: Appointment.status != cancelled),
            Facet(None, "cancelled", lambda: Appointment.status == cancelled),
        ]
    }


def encounter(ctx: MapContext) -> Facets:
    came = sorted(CAME)
    return {
        "status": [
            Facet(None, "finished", lambda: Attendance.status.in_(came)),
            Facet(None, "cancelled", lambda: Attendance.status.not_in(came)),
        ]
    }


def _need_status(mapping: dict) -> list[Facet]:
    by_code: dict[str, list] = {}
    for status, code in mapping.items():
        by_code.setdefault(code, []).append(status)
    return [
        Facet(None, code, lambda statuses=statuses: Need.status.in_(statuses))
        for code, statuses in sorted(by_code.items())
    ]


def service_request(ctx: MapContext) -> Facets:
    return {
        "status": _need_status(REQUEST_STATUS),
        "category": [
            Facet(SDOH, c.value, lambda c=c: Need.category == c) for c in SdohCategory
        ],
    }


def task(ctx: MapContext) -> Facets:
    return {"status": _need_status({s: s.value for s in TaskStatus})}


def communication(ctx: MapContext) -> Facets:
    return {"status": _status("completed")}


def consent(ctx: MapContext) -> Facets:
    def active():
        return (RecordConsent.revoked_at.is_(None)) & (
            RecordConsent.expires_at > utcnow()
        )

    return {
        "status": [
            Facet(None, "active", active),
            Facet(None, "inactive", lambda: ~active()),
        ],
        "category": [
            Facet(LOINC, "59284-0"),
            Facet("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IDSCL"),
        ],
    }


def coverage(ctx: MapContext) -> Facets:
    return {"status": _status("active")}
