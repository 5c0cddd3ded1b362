"""Patient, Practitioner and Organization: who the record is about, who wrote it, and
the program that holds it."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import Enrollment, Program
from portal.blueprints.record.fhir.common import MapContext, meta


def from_enrollment_in(program_id: str, column):
    """A column of the patient's latest enrollment in this program (the mobile
    number, the birth date), as a column of the Patient row: one statement for any
    number of patients."""
    return (
        select(column)
        .where(Enrollment.patient_id == User.id, Enrollment.program_id == program_id)
        .order_by(Enrollment.admitted_on.desc())
        .limit(1)
        .correlate(User)
        .scalar_subquery()
        .label(column.key)
    )


def human_name(display_name: str) -> dict:
    """The name as written, and split as EHRs match on it: the last word the family
    name, the words before it the given names (one word is a given name only)."""
    words = display_name.split()
    name = {"use": "usual", "text": display_name}
    if len(words) > 1:
        name["family"] = words[-1]
    if words:
        name["given"] = words[:-1] or words
    return name


def patient(
    user: User,
    ctx: MapContext,
    mobile_phone: str | None = None,
    birth_date: date | None = None,
) -> dict:
    resource = {
        "resourceType": "Patient",
        "id": user.id,
        "meta": meta(user.created_at, ctx.part2),
        "identifier": [{"system": f"{ctx.canonical}/sid/patient", "value": user.id}],
        "active": user.is_active,
        "name": [human_name(user.display_name)],
        "telecom": _telecom(user, mobile_phone),
        "managingOrganization": ctx.organization_ref(),
    }
    if user.preferred_language:
        resource["communication"] = [
            {
                "language": {
                    "coding": [
                        {"system": "urn:ietf:bcp:47", "code": user.preferred_language}
                    ]
                },
                "preferred": True,
            }
        ]
    if birth_date is not None:
        resource["birthDate"] = birth_date.isoformat()
    return resource


def _telecom(user: User, mobile_phone: str | None) -> list[dict]:
    """The enrollment's mobile number (to call), the number the patient signs in
    with (texts), and email, whichever the patient has (email is optional)."""
    telecom = [
        {"system": "phone", "value": mobile_phone, "use": "mobile"},
        {"system": "sms", "value": user.phone, "use": "mobile"},
        {"system": "email", "value": user.email, "use": "home"},
    ]
    return [point for point in telecom if point["value"]]


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
