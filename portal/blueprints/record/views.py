"""The staff timeline; the patient's own record, their sharing choices (Part 2
consent) and the list of who received their record."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from sqlalchemy import select

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.checkins.instruments import QUESTIONNAIRES
from portal.blueprints.needs.forms import OTHER_LABELS
from portal.blueprints.needs.models import Need, NeedKind
from portal.blueprints.programs.access import load_patient_or_404
from portal.blueprints.programs.context import load_patient_context
from portal.blueprints.programs.models import Enrollment, Program
from portal.blueprints.record import own_copy, sharing
from portal.blueprints.record.fhir.common import FHIR_JSON
from portal.blueprints.record.forms import payment_form, share_form
from portal.blueprints.record.kinds import (
    CLINICAL_KINDS,
    N_,
    STAFF_LABELS,
    RecordKind,
    patient_labels,
    resource_words,
)
from portal.blueprints.record.models import FhirClient, RecordConsent
from portal.blueprints.record.timeline import TIMELINE_SOURCES, build_timeline
from portal.blueprints.reviews.coverage import payers_of
from portal.blueprints.reviews.packet import coverage_payer, load_packet, mark_released
from portal.blueprints.schedule.services import APPOINTMENT_WORDS
from portal.dates import OUT_OF_RANGE, in_range
from portal.db import is_id, utcnow
from portal.rendering import refused_status, render_page
from portal.security import Permission, current_actor, has_permission, requires

bp = Blueprint("record", __name__)

DEFAULT_DAYS = 30
SHOWING_DEFAULT = "Showing the last 30 days."
REFUSAL_WORDS = {
    "no-consent": N_("you had not agreed to share with them"),
    "revoked": N_("you had stopped sharing with them"),
    "expired": N_("your sharing with them had ended"),
    "not-covered": N_("you had not agreed to share that kind of information"),
}


# ---- staff: the timeline -------------------------------------------------------------


@dataclass
class TimelineFilter:
    kinds: list[RecordKind]
    first: date
    last: date
    problem: str | None = None


def visible_kinds(actor) -> list[RecordKind]:
    """Clinicians see everything; peers and case managers see the non-clinical kinds."""
    clinician = has_permission(actor, Permission.CHECKINS_READ)
    return [
        kind for kind in TIMELINE_SOURCES if clinician or kind not in CLINICAL_KINDS
    ]


def read_filter(args, allowed: list[RecordKind], today: date) -> TimelineFilter:
    """Kinds and dates from the query string; dates not understood, or too far out
    to read, fall back to the last 30 days with a message."""
    chosen = [k for k in allowed if k.value in args.getlist("kind")] or allowed
    fallback = today - timedelta(days=DEFAULT_DAYS - 1), today
    try:
        last, first = (
            date.fromisoformat(args[name]) if args.get(name) else None
            for name in ("to", "from")
        )
    except ValueError:
        problem = f"Those dates were not understood. {SHOWING_DEFAULT}"
        return TimelineFilter(chosen, *fallback, problem)
    if not all(in_range(day) for day in (first, last) if day is not None):
        return TimelineFilter(chosen, *fallback, f"{OUT_OF_RANGE} {SHOWING_DEFAULT}")
    last = last or today
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        first, last = last, first
    return TimelineFilter(chosen, first, last)


def _program_tz(patient_id: str) -> ZoneInfo:
    """The zone of the patient's latest program (discharged patients have one too)."""
    zone = db.session.scalar(
        select(Program.timezone)
        .join(Enrollment, Enrollment.program_id == Program.id)
        .where(Enrollment.patient_id == patient_id)
        .order_by(Enrollment.admitted_on.desc())
        .limit(1)
    )
    return ZoneInfo(zone or "UTC")


@bp.route("/staff/patients/<patient_id>/timeline")
@requires(Permission.STAFF_PATIENTS)
def timeline(patient_id: str):
    """One patient's record, newest first, filtered by kind and date; audited."""
    person = load_patient_or_404(patient_id, "timeline")
    actor, tz = current_actor(), _program_tz(person.id)
    allowed = visible_kinds(actor)
    today = utcnow().astimezone(tz).date()
    chosen = read_filter(request.args, allowed, today)
    result = build_timeline(
        actor, person.id, chosen.kinds, chosen.first, chosen.last, tz
    )
    audit(
        "read",
        "timeline",
        patient_id=person.id,
        detail=f"{','.join(chosen.kinds)} {chosen.first}..{chosen.last}",
    )
    return render_page(
        "record/timeline.html",
        "record/_timeline.html",
        person=person,
        timeline=result,
        chosen=chosen,
        allowed=allowed,
        labels=STAFF_LABELS,
        tz=tz,
    )


# ---- patient: my record --------------------------------------------------------------


def _patient_context():
    ctx = load_patient_context(current_actor().id)
    if ctx is None:
        return None
    return ctx


@bp.route("/my-record")
@requires(Permission.PATIENT_SELF)
def my_record():
    """The patient's whole record as a page they can read and print."""
    actor, ctx = current_actor(), _patient_context()
    audit("read", "record", patient_id=actor.id)
    if ctx is None:
        return render_template("schedule/not_enrolled.html")
    return render_template(
        "record/my_record.html",
        record=own_copy.load_own_record(actor, ctx),
        ctx=ctx,
        labels=patient_labels(),
        questionnaires=QUESTIONNAIRES,
        appointment_titles=APPOINTMENT_WORDS,
        printed_at=utcnow().astimezone(ctx.tz),
        need_words=need_words,
    )


def need_words(need: Need) -> str:
    """What the patient asked for, in the page's language: the words of the FHIR
    record's `what_was_asked`, which stay English."""
    if need.kind is NeedKind.TRANSPORT:
        return gettext("A ride to the program")
    if need.kind is NeedKind.HOUSING:
        return gettext("Help with housing")
    other = OTHER_LABELS.get(need.other_need) if need.other_need else None
    if other is None:
        return gettext("Help with another need")
    return gettext("Help with %(need)s", need=str(other).lower())


@bp.route("/my-record/download")
@requires(Permission.PATIENT_SELF)
def download_record():
    """The patient's record as a FHIR R4 Bundle file, never cached."""
    actor, ctx = current_actor(), _patient_context()
    if ctx is None:
        abort(404)
    record = own_copy.load_own_record(actor, ctx)
    base = request.url_root.rstrip("/") + "/fhir"
    canonical = os.environ.get("PORTAL_FHIR_CANONICAL") or current_app.config.get(
        "FHIR_CANONICAL", base
    )
    body = own_copy.own_bundle(record, base, canonical)
    audit(
        "export",
        "record",
        patient_id=actor.id,
        detail=f"{len(body.get('entry', []))} resources",
    )
    response = make_response(json.dumps(body, indent=1, ensure_ascii=False))
    response.mimetype = FHIR_JSON
    response.headers["Content-Disposition"] = 'attachment; filename="my-record.json"'
    response.cache_control.no_store = True
    response.cache_control.private = True
    return response


# ---- patient: sharing (Part 2 consent) -----------------------------------------------


def _shareable_kinds() -> list[RecordKind]:
    extra = (RecordKind.ACCESS, RecordKind.COVERAGE)
    return [k for k in RecordKind if k in TIMELINE_SOURCES or k in extra]


@bp.route("/sharing", methods=["GET", "POST"])
@requires(Permission.PATIENT_SELF)
def sharing_page():
    """Who may receive my record, what they may receive, and until when."""
    actor, ctx = current_actor(), _patient_context()
    if ctx is None:
        audit("read", "consent", patient_id=actor.id)
        return render_template("schedule/not_enrolled.html")
    recipients = sharing.recipients_for(ctx.program.id)
    kinds = _shareable_kinds()
    failed = None
    if request.method == "POST" and ctx.program.substance_use:
        failed = _give_consent(actor, recipients, kinds)
        if failed is None:
            return redirect(url_for("record.sharing_page"), code=303)
    consents = sharing.consents_of(actor.id)
    active = {c.client_id: c for c in consents if sharing.is_active(c)}
    payers = payers_of(actor.id) if ctx.program.substance_use else []
    paying = {
        c.recipient: c
        for c in consents
        if c.purpose == sharing.PAYMENT and sharing.is_active(c)
    }
    forms = {
        r.id: failed
        if failed and failed.recipient.data == r.id
        else _prefilled(r.id, kinds, active.get(r.id))
        for r in recipients
    }
    audit("read", "consent", patient_id=actor.id)
    return render_template(
        "record/sharing.html",
        ctx=ctx,
        recipients=recipients,
        active=active,
        forms=forms,
        labels=patient_labels(),
        payers=payers,
        paying=paying,
        payment_forms=[
            payment_form(n, payer, formdata=None) for n, payer in enumerate(payers)
        ],
        payment_kinds=sharing.PAYMENT_KINDS,
    ), refused_status() if failed else 200


def _prefilled(recipient_id: str, kinds, current: RecordConsent | None):
    data = {"kinds": current.kind_list} if current else {}
    form = share_form(recipient_id, kinds, formdata=None, data=data)
    return form


def _give_consent(actor, recipients: list[FhirClient], kinds):
    """Save the consent the patient sent; the form back with errors if it had any."""
    chosen = {r.id: r for r in recipients}
    recipient_id = next(
        (v for k, v in request.form.items() if k.endswith("recipient")), None
    )
    client = chosen.get(recipient_id or "")
    if client is None:
        abort(404)
    form = share_form(client.id, kinds)
    if not form.validate_on_submit():
        return form
    sharing.give_consent(actor, client, form.kinds.data, form.months.data)
    flash(gettext("You are now sharing with %(name)s.", name=client.name))
    return None


@bp.route("/sharing/payment", methods=["POST"])
@requires(Permission.PATIENT_SELF)
def share_for_payment():
    """Consent to send my insurance what it needs to pay for my care."""
    actor, ctx = current_actor(), _patient_context()
    payers = payers_of(actor.id) if ctx and ctx.program.substance_use else []
    index = _payment_form_index(request.form)
    if index is None or index >= len(payers):
        abort(404)
    form = payment_form(index, payers[index])
    if not form.validate_on_submit():
        flash(str(next(iter(form.errors.values()))[0]))
        return redirect(url_for("record.sharing_page"), code=303)
    sharing.give_payment_consent(actor, ctx.program.id, payers[index], form.months.data)
    flash(
        gettext(
            "%(program)s may now send %(payer)s what it needs for payment.",
            program=ctx.program.name,
            payer=payers[index],
        )
    )
    return redirect(url_for("record.sharing_page"), code=303)


def _payment_form_index(form) -> int | None:
    """Which payer's form was sent: its fields are named pay-<n>-..."""
    for name in form:
        number = name.removeprefix("pay-").split("-")[0]
        if name.startswith("pay-") and number.isdigit():
            return int(number)
    return None


@bp.route("/reviews/packets/<packet_id>/release", methods=["POST"])
@requires(Permission.REVIEWS_READ)
def release_packet(packet_id: str):
    """Send a saved review packet to the payer: a disclosure for payment, with the
    patient's consent in a Part 2 program, recorded in their accounting."""
    actor = current_actor()
    packet = load_packet(actor, packet_id)
    if packet is None:
        audit("read", "review_packet", outcome=Outcome.DENIED)
        abort(404)
    payer = coverage_payer(packet)
    if packet.released_at is None:
        program = db.session.get(Program, packet.program_id)
        decision = sharing.decide_payment(program, packet.patient_id, payer)
        if not decision.allowed:
            return _release_refused(packet, payer, decision)
        sharing.record_payment_disclosure(
            actor, packet.patient_id, payer, decision, packet.id
        )
        mark_released(actor, packet, payer)
    flash(f"Sent to {payer}. Upload the PDF to the payer now.")
    return redirect(url_for("reviews.saved_packet", packet_id=packet.id), code=303)


def _release_refused(packet, payer: str, decision):
    audit(
        "disclose",
        "review_packet",
        patient_id=packet.patient_id,
        object_id=packet.id,
        outcome=Outcome.DENIED,
        detail=f"refused ({decision.reason})",
    )
    message = PAYMENT_REFUSALS[decision.reason].format(payer=payer)
    return render_template(
        "reviews/saved_packet.html",
        packet=packet,
        content=packet.content,
        error=message,
    ), 422


PAYMENT_REFUSALS = {
    "no-consent": "Not sent: the patient has not agreed to share with {payer} for "
    "payment. They can agree on their Sharing page.",
    "revoked": "Not sent: the patient stopped sharing with {payer} for payment.",
    "expired": "Not sent: the patient's consent to share with {payer} for payment "
    "has ended. They can agree again on their Sharing page.",
}


@bp.route("/sharing/<consent_id>/stop", methods=["POST"])
@requires(Permission.PATIENT_SELF)
def stop_sharing(consent_id: str):
    """Revoke a consent; it takes effect at once."""
    actor = current_actor()
    consent = db.session.get(RecordConsent, consent_id) if is_id(consent_id) else None
    if consent is None or consent.patient_id != actor.id:
        abort(404)
    sharing.revoke_consent(actor, consent)
    flash(gettext("You stopped sharing. Nothing more will be sent."))
    return redirect(url_for("record.sharing_page"), code=303)


@bp.route("/sharing/history")
@requires(Permission.PATIENT_SELF)
def disclosure_history():
    """Who received my record (or was refused), when, and what kinds of data."""
    actor = current_actor()
    rows = sharing.disclosures_of(actor.id)
    ctx = _patient_context()
    audit("read", "disclosures", patient_id=actor.id)
    return render_template(
        "record/history.html",
        rows=rows,
        words=resource_words(),
        refusal_words={
            reason: gettext(words) for reason, words in REFUSAL_WORDS.items()
        },
        tz=ctx.tz if ctx else ZoneInfo("UTC"),
    )
