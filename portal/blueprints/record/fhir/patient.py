"""Patient, Practitioner and Organization: who the record is about, who wrote it, and
the program that holds it."""

from __future__ import annotations

from portal.blueprints.auth.models import User
from portal.blueprints.record.fhir.common import MapContext, meta
from portal.blueprints.staff.models import Program


def patient(user: User, ctx: MapContext) -> dict:
    return {
        "resourceType": "Patient",
        "id": user.id,
        "meta": meta(user.created_at, ctx.part2),
        "identifier": [{"system": f"{ctx.canonical}/sid/patient", "value": user.id}],
        "active": user.is_active,
        "name": [{"text": user.display_name}],
        "telecom": [{"system": "email", "value": user.email, "use": "home"}],
        "managingOrganization": ctx.organization_ref(),
    }


def practitioner(user: User, ctx: MapContext) -> dict:
    return {
        "resourceType": "Practitioner",
        "id": user.id,
        "meta": meta(user.created_at, False),
        "identifier": [{"system": f"{ctx.canonical}/sid/staff", "value": user.id}],
        "active": user.is_active,
        "name": [{"text": user.display_name}],
        "telecom": [{"system": "email", "value": user.email, "use": "work"}],
    }


def organization(program: Program, ctx: MapContext) -> dict:
    return {
        "resourceType": "Organization",
        "id": program.id,
        "meta": meta(program.created_at, False),
        "identifier": [{"system": f"{ctx.canonical}/sid/program", "value": program.id}],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/"
                        "organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    }
                ]
            }
        ],
        "name": program.name,
        "telecom": [{"system": "phone", "value": program.on_call_phone}],
    }
