"""The CapabilityStatement and the SMART configuration: what the server offers."""

from __future__ import annotations

from portal.blueprints.record.fhir.common import FHIR_VERSION, instant
from portal.blueprints.record.fhir.registry import SEARCH_ONLY
from portal.db import utcnow

SEARCH_PARAMS = {
    "patient": ("reference", "The patient the resources are about"),
    "date": ("date", "When it happened (effective, authored, start, occurrence)"),
    "_lastUpdated": ("date", "When the resource last changed"),
    "_id": ("token", "The resource id"),
}
PLAIN = ("Patient", "Practitioner", "Organization")


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
                "resource": [_resource(t) for t in types],
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
        "description": "OAuth2 client credentials (client_secret_basic or "
        "client_secret_post) at /fhir/token; SMART system scopes such as "
        "system/Observation.read or system/*.read.",
    }


def _resource(resource_type: str) -> dict:
    names = ("_id", "_lastUpdated") if resource_type in PLAIN else SEARCH_PARAMS
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
    if resource_type in SEARCH_ONLY:
        resource["documentation"] = "Not part of $everything; search by patient."
    return resource


def smart_configuration(base: str, types: list[str]) -> dict:
    return {
        "token_endpoint": f"{base}/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "scopes_supported": ["system/*.read", *[f"system/{t}.read" for t in types]],
        "capabilities": ["client-confidential-symmetric"],
    }
