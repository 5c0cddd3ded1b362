"""The CapabilityStatement and the SMART configuration: what the server offers."""

from __future__ import annotations

from portal.blueprints.record.fhir.common import (
    FHIR_VERSION,
    MapContext,
    ProgramInfo,
    instant,
)
from portal.blueprints.record.fhir.registry import SEARCH_ONLY, token_params
from portal.blueprints.record.fhir.service import search_params_of
from portal.db import utcnow

SEARCH_PARAMS = {
    "patient": ("reference", "The patient the resources are about"),
    "subject": ("reference", "The patient the resources are about (Patient/[id])"),
    "date": ("date", "When it happened (effective, authored, start, occurrence)"),
    "_lastUpdated": ("date", "When the resource last changed"),
    "_id": ("token", "The resource id"),
    "code": ("token", "The code: system|code, code, or system|"),
    "category": ("token", "The category: system|code, code, or system|"),
    "status": ("token", "The resource's status code"),
    "questionnaire": ("reference", "The instrument's canonical (LOINC's form)"),
}
ORDER = list(SEARCH_PARAMS)
SEARCH_DOCS = (
    "Search answers a searchset with an exact total. Also: _count (0 to 200), "
    "_sort=date or -date (the default), _summary=count, and paging by the next link "
    "(a cursor: rows added meanwhile never repeat or skip an entry). A parameter not "
    "listed is ignored and named in an OperationOutcome entry (search mode "
    "outcome); send Prefer: handling=strict to have it refused with 400."
)


def capability_statement(base: str, types: list[str]) -> dict:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(utcnow()),
        "publisher": "Day Program portal",
        "kind": "instance",
        "software": {"name": "portal"},
        "implementation": {"description": "Patient portal FHIR API", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Read-only. Data of 42 CFR Part 2 programs leaves "
                "only under the patient's consent, with security labels and the "
                "redisclosure notice.",
                "security": _security(base),
                "resource": [*(_resource(t) for t in types), GROUP_EXPORT],
            }
        ],
    }


# The program as a Group: only Bulk Data export, no read or search.
GROUP_EXPORT = {
    "type": "Group",
    "documentation": "Group/[program id]/$export: Bulk Data export (NDJSON) of the "
    "program's patients whose consent covers the client; _type, _since, "
    "_outputFormat=application/fhir+ndjson; send Prefer: respond-async.",
    "operation": [
        {
            "name": "export",
            "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/"
            "group-export",
        }
    ],
}


def _security(base: str) -> dict:
    return {
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/"
                        "restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ]
            }
        ],
        "extension": [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/"
                "oauth-uris",
                "extension": [{"url": "token", "valueUri": f"{base}/token"}],
            }
        ],
        "description": "OAuth2 client credentials at /fhir/token, the client "
        "authenticated by its secret (client_secret_basic or client_secret_post) or, "
        "as SMART Backend Services, by a JWT signed with RS384 or ES384 "
        "(private_key_jwt) against the JWKS registered with it; SMART system scopes "
        "such as system/Observation.read or system/*.read.",
    }


def searchable(resource_type: str) -> list[str]:
    """Exactly the parameters a search of this type honours."""
    placeholder = MapContext("", "", ProgramInfo("", "", False, "UTC"))
    names = search_params_of(resource_type) | set(
        token_params(resource_type, placeholder)
    )
    return sorted(names, key=ORDER.index)


def _resource(resource_type: str) -> dict:
    names = searchable(resource_type)
    resource = {
        "type": resource_type,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [
            {
                "name": n,
                "type": SEARCH_PARAMS[n][0],
                "documentation": SEARCH_PARAMS[n][1],
            }
            for n in names
        ],
    }
    if resource_type == "Patient":
        resource["operation"] = [
            {
                "name": "everything",
                "definition": "http://hl7.org/fhir/OperationDefinition/"
                "Patient-everything",
            }
        ]
    resource["documentation"] = SEARCH_DOCS
    if resource_type in SEARCH_ONLY:
        resource["documentation"] += " Not part of $everything; search by patient."
    return resource


def smart_configuration(base: str, types: list[str]) -> dict:
    return {
        "token_endpoint": f"{base}/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": ["system/*.read", *[f"system/{t}.read" for t in types]],
        "capabilities": [
            "client-confidential-symmetric",
            "client-confidential-asymmetric",
        ],
    }
