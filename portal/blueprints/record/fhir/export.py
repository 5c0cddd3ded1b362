"""Bulk Data export of a program (`Group/[program id]/$export`): the kick-off records
what was asked, the worker writes one NDJSON file per type into the database (so any
app host can serve it), the status answers 202 until the manifest is ready, and each
file is served only to the client that asked, until the export expires and is deleted.

Only patients whose consent covers the client leave (in a Part 2 program), each
resource with the Part 2 labels and the redisclosure notice; consent is read again
when a file is fetched, so a withdrawal made meanwhile takes the patient's lines out."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import delete, select, update

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import Program
from portal.blueprints.record import sharing
from portal.blueprints.record.clients import Caller, scope_allows
from portal.blueprints.record.fhir.common import MapContext, notice_extension
from portal.blueprints.record.fhir.registry import PARTS
from portal.blueprints.record.fhir.search import SearchError, parse_instant
from portal.blueprints.record.fhir.service import FhirError, program_info
from portal.blueprints.record.kinds import RecordKind
from portal.blueprints.record.models import (
    ExportStatus,
    FhirClient,
    FhirExport,
    FhirExportFile,
)
from portal.blueprints.record.sources import Window
from portal.db import utcnow
from portal.worker import task

NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = {NDJSON, "application/ndjson", "ndjson"}
KEEP = timedelta(hours=1)  # files are kept this long after the export finishes
WAIT = timedelta(hours=24)  # an export not finished by then is given up
KICK_OFF_PARAMS = {"_type", "_since", "_outputFormat"}


def kick_off(caller: Caller, group_id: str, args, prefer: str, request_url: str):
    """Check the request and record the export; the worker does the rest."""
    if group_id != caller.program.id:
        _deny(caller, "not the client's program")
        raise FhirError(403, "forbidden", "This client may not export that group.")
    if not scope_allows(caller.scopes, "Patient", "search"):
        _deny(caller, "scope")
        raise FhirError(
            403, "forbidden", "An export needs system/Patient.read (or system/*.read)."
        )
    if "respond-async" not in prefer.replace(" ", "").split(","):
        raise FhirError(400, "processing", "Send Prefer: respond-async.")
    types, since = _export_params(caller, args)
    now = utcnow()
    export = FhirExport(
        client_id=caller.client.id,
        program_id=caller.program.id,
        status=ExportStatus.ACCEPTED,
        types=",".join(types),
        since=since,
        request_url=request_url[:2000],
        expires_at=now + WAIT,
    )
    db.session.add(export)
    db.session.flush()
    audit("create", "fhir_export", object_id=export.id, actor=caller.client)
    return export


def _export_params(caller: Caller, args) -> tuple[list[str], object]:
    unknown = sorted(set(args) - KICK_OFF_PARAMS)
    if unknown:
        raise FhirError(400, "not-supported", f"Parameter not supported: {unknown[0]}")
    output = args.get("_outputFormat")
    if output is not None and output not in OUTPUT_FORMATS:
        raise FhirError(400, "not-supported", "Only NDJSON is written.")
    asked = [t for t in args.get("_type", "").split(",") if t]
    unknown_types = sorted(set(asked) - set(PARTS))
    if unknown_types:
        raise FhirError(400, "not-supported", f"Not exported: {unknown_types[0]}")
    allowed = [
        t
        for t in sorted(PARTS)
        if scope_allows(caller.scopes, t, "search") and (not asked or t in asked)
    ]
    if asked and set(asked) - set(allowed):
        _deny(caller, "scope")
        raise FhirError(403, "forbidden", "The token's scopes do not cover _type.")
    try:
        since = parse_instant(args["_since"], "_since") if args.get("_since") else None
    except SearchError as problem:
        raise FhirError(400, problem.code, str(problem)) from None
    return allowed, since


def _deny(caller: Caller, why: str) -> None:
    audit(
        "create",
        "fhir_export",
        outcome=Outcome.DENIED,
        actor=caller.client,
        detail=why,
    )


def own_export(caller: Caller, export_id: str) -> FhirExport:
    """The caller's own live export, or 404 (another client's, expired or unknown)."""
    export = db.session.get(FhirExport, export_id) if len(export_id) <= 36 else None
    if (
        export is None
        or export.client_id != caller.client.id
        or export.expires_at <= utcnow()
    ):
        raise FhirError(404, "not-found", "No such export (it may have expired).")
    return export


def cancel(caller: Caller, export: FhirExport) -> None:
    """The client is done with the export (or gives it up): delete it and its files."""
    db.session.execute(delete(FhirExport).where(FhirExport.id == export.id))
    audit("delete", "fhir_export", object_id=export.id, actor=caller.client)


def manifest(export: FhirExport, base: str) -> dict:
    """The completion manifest: one entry per file, each fetched with the token."""
    files = db.session.execute(
        select(FhirExportFile.id, FhirExportFile.resource_type, FhirExportFile.count)
        .where(FhirExportFile.export_id == export.id)
        .order_by(FhirExportFile.resource_type)
    ).all()
    return {
        "transactionTime": export.created_at.isoformat().replace("+00:00", "Z"),
        "request": export.request_url,
        "requiresAccessToken": True,
        "output": [
            {"type": kind, "url": f"{base}/bulk-files/{file_id}", "count": count}
            for file_id, kind, count in files
        ],
        "error": [],
    }


def own_file(caller: Caller, file_id: str) -> tuple[FhirExportFile, FhirExport]:
    row = (
        db.session.execute(
            select(FhirExportFile, FhirExport)
            .join(FhirExport, FhirExportFile.export_id == FhirExport.id)
            .where(FhirExportFile.id == file_id)
        ).first()
        if len(file_id) <= 36
        else None
    )
    if row is None:
        raise FhirError(404, "not-found", "No such file (it may have expired).")
    own_export(caller, row[1].id)
    return row[0], row[1]


def file_body(caller: Caller, file: FhirExportFile) -> str:
    """The file's lines whose patients' consent still covers the client, with the
    accounting of what left for each patient."""
    still = _still_shareable(caller, file.lines)
    kept = [
        line
        for line, (patient_id, kind) in zip(
            file.body.splitlines(), file.lines, strict=True
        )
        if (patient_id, kind) in still
    ]
    sent = Counter(
        patient_id for patient_id, kind in file.lines if (patient_id, kind) in still
    )
    part2 = caller.program.substance_use
    consents = _consents(caller, list(sent)) if part2 else {}
    for patient_id, count in sent.items():
        sharing.record_disclosure(
            caller.client,
            patient_id,
            interaction="export",
            resource_types=[file.resource_type],
            count=count,
            decision=sharing.Decision(True, part2, consents.get(patient_id)),
        )
    if not sent:
        audit("read", "fhir_export", object_id=file.id, actor=caller.client)
    return "".join(f"{line}\n" for line in kept)


def _still_shareable(caller: Caller, lines: list) -> set[tuple]:
    """(patient, kind) pairs of the file that may still go to the client: one
    statement per kind in the file (at most two: an Observation's)."""
    pairs: set[tuple] = set()
    for kind in {kind for _patient, kind in lines}:
        ids = sorted({p for p, k in lines if k == kind})
        shareable = sharing.shareable_patients(
            caller.client, caller.program, RecordKind(kind) if kind else None
        )
        found = db.session.scalars(
            select(User.id).where(User.id.in_(ids), shareable(User.id))
        )
        pairs |= {(patient_id, kind) for patient_id in found}
    return pairs


def _consents(caller: Caller, patient_ids: list[str]) -> dict:
    from portal.blueprints.record.fhir.service import _consents_for

    return {pid: row[0] for pid, row in _consents_for(caller, patient_ids).items()}


# ---- the worker ----------------------------------------------------------------------


@task("run_fhir_exports")
def run_fhir_exports(app: Flask) -> int:
    """Write the files of exports waiting to run (a few a round)."""
    waiting = db.session.scalars(
        select(FhirExport.id)
        .where(FhirExport.status == ExportStatus.ACCEPTED)
        .order_by(FhirExport.created_at)
        .limit(3)
    ).all()
    done = 0
    for export_id in waiting:
        claimed = db.session.execute(
            update(FhirExport)
            .where(
                FhirExport.id == export_id,
                FhirExport.status == ExportStatus.ACCEPTED,
            )
            .values(status=ExportStatus.RUNNING)
        )
        db.session.commit()
        if claimed.rowcount != 1:
            continue  # another worker took it
        write_export(db.session.get(FhirExport, export_id))
        db.session.commit()
        done += 1
    return done


def write_export(export: FhirExport) -> None:
    """One NDJSON file per type that has resources to give."""
    client = db.session.get(FhirClient, export.client_id)
    program = db.session.get(Program, export.program_id)
    ctx = _context(export, program)
    updated = Window(export.since, None) if export.since else None
    for resource_type in [t for t in (export.types or "").split(",") if t]:
        lines, owners = [], []
        for part in PARTS[resource_type]:
            shareable = sharing.shareable_patients(client, program, part.kind)
            for row in part.rows(client, patients=shareable, updated=updated):
                resource = part.to_fhir(row, ctx)
                if ctx.part2:
                    resource["meta"] = {
                        **resource.get("meta", {}),
                        "extension": [notice_extension(ctx.canonical)],
                    }
                lines.append(json.dumps(resource, separators=(",", ":")))
                kind = part.kind.value if part.kind else None
                owners.append([part.source.patient_of(row), kind])
        if lines:
            db.session.add(
                FhirExportFile(
                    export_id=export.id,
                    resource_type=resource_type,
                    count=len(lines),
                    body="\n".join(lines),
                    lines=owners,
                )
            )
    now = utcnow()
    export.status, export.finished_at, export.expires_at = (
        ExportStatus.COMPLETE,
        now,
        now + KEEP,
    )
    audit("update", "fhir_export", object_id=export.id, actor=client, detail="done")


def _context(export: FhirExport, program: Program) -> MapContext:
    base = export.request_url.split("/Group/", 1)[0]
    canonical = os.environ.get("PORTAL_FHIR_CANONICAL") or current_app.config.get(
        "FHIR_CANONICAL", base
    )
    return MapContext(base, canonical, program_info(program))


@task("prune_fhir_exports")
def prune_fhir_exports(app: Flask) -> int:
    """Delete expired exports and their files (the files go with them)."""
    result = db.session.execute(
        delete(FhirExport).where(FhirExport.expires_at <= utcnow())
    )
    db.session.commit()
    return result.rowcount or 0
