"""Shared pieces of the FHIR R4 output: references, meta, Part 2 labels and notice,
Bundles and OperationOutcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from portal.part2 import (  # re-exported: the FHIR modules import them from here
    REDISCLOSURE_NOTICE,
    REDISCLOSURE_NOTICE_SHORT,
)

__all__ = ["REDISCLOSURE_NOTICE", "REDISCLOSURE_NOTICE_SHORT"]

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"

CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
LOINC = "http://loinc.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
SDOH = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"

PART2_LABELS = (
    {"system": CONFIDENTIALITY, "code": "R", "display": "restricted"},
    {"system": ACT_CODE, "code": "42CFRPart2", "display": "42 CFR Part2"},
    {
        "system": ACT_CODE,
        "code": "ETH",
        "display": "substance abuse information sensitivity",
    },
    {
        "system": ACT_CODE,
        "code": "NORDSCLCD",
        "display": "no redisclosure without consent directive",
    },
)

NOTICE_HEADER = "Redisclosure-Notice"


@dataclass(frozen=True)
class ProgramInfo:
    """The program that holds the record being mapped."""

    id: str
    name: str
    substance_use: bool
    timezone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class MapContext:
    """Per request: the base URL, the canonical URL of our own codes and extensions,
    and the program whose record this is (Part 2 or not)."""

    base: str
    canonical: str
    program: ProgramInfo

    def code_system(self, name: str) -> str:
        return f"{self.canonical}/CodeSystem/{name}"

    @property
    def part2(self) -> bool:
        return self.program.substance_use

    def organization_ref(self) -> dict:
        return ref("Organization", self.program.id, self.program.name)


def ref(resource_type: str, resource_id: str, display: str | None = None) -> dict:
    reference = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        reference["display"] = display
    return reference


def instant(moment: datetime | None) -> str | None:
    """An R4 instant/dateTime in UTC with a Z."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day(value: date) -> str:
    return value.isoformat()


# One shared list for every labelled resource of a response: they are only serialized.
_PART2_SECURITY = [dict(label) for label in PART2_LABELS]


def meta(updated: datetime | None, part2: bool) -> dict:
    result = {"lastUpdated": instant(updated)} if updated else {}
    if part2:
        result["security"] = _PART2_SECURITY
    return result


def notice_extension(canonical: str) -> dict:
    return {
        "url": f"{canonical}/StructureDefinition/redisclosure-notice",
        "valueString": REDISCLOSURE_NOTICE,
    }


def codeable(system: str, code: str, display: str | None = None, text=None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    result = {"coding": [coding]}
    if text:
        result["text"] = text
    return result


def decimal_value(value: Decimal | float) -> float:
    return float(value)


def bundle(
    kind: str,
    entries: list[tuple[dict, str | None]],
    base: str,
    *,
    total: int | None = None,
    links: list[tuple[str, str]] = (),
    bundle_meta: dict | None = None,
    bundle_id: str | None = None,
    timestamp: datetime | None = None,
) -> dict:
    """A Bundle of (resource, search mode) pairs; the mode is None outside searches."""
    result: dict = {"resourceType": "Bundle", "type": kind}
    if bundle_id:
        result["id"] = bundle_id
    if bundle_meta:
        result["meta"] = bundle_meta
    if timestamp:
        result["timestamp"] = instant(timestamp)
    if total is not None:
        result["total"] = total
    if links:
        result["link"] = [{"relation": rel, "url": url} for rel, url in links]
    result["entry"] = [_entry(resource, mode, base) for resource, mode in entries]
    if not result["entry"]:
        del result["entry"]
    return result


def _entry(resource: dict, mode: str | None, base: str) -> dict:
    full_url = (
        f"urn:uuid:{resource['id']}"
        if mode == "outcome"
        else f"{base}/{resource['resourceType']}/{resource['id']}"
    )
    entry = {
        "fullUrl": full_url,
        "resource": resource,
    }
    if mode:
        entry["search"] = {"mode": mode}
    return entry


def operation_outcome(code: str, text: str, severity: str = "error") -> dict:
    """An OperationOutcome with one issue; `code` is an R4 issue-type code."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": text}],
    }
