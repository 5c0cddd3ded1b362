"""Risk alerts for the staff who handle them (acknowledge, assess, resolve, one POST
route a step) and the safety plan, for the patient and their clinicians."""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from sqlalchemy.orm.exc import StaleDataError

from portal import db
from portal.audit import Outcome, audit, audit_many
from portal.blueprints.programs.access import load_patient_or_404
from portal.blueprints.programs.context import load_patient_context
from portal.blueprints.safety import escalation, reading, services
from portal.blueprints.safety.answers import SOURCE_WORDS, risk_answers
from portal.blueprints.safety.forms import (
    AssessForm,
    ReplyForm,
    ResolveForm,
    SafetyPlanForm,
)
from portal.blueprints.safety.models import (
    PATIENT_CALL_ME,
    PATIENT_SAFE_NOW,
    SAFETY_PLAN_SECTIONS,
    FlagStatus,
    RiskFlag,
    RiskLevel,
)
from portal.db import is_id, utcnow
from portal.security import Permission, current_actor, has_permission, requires

bp = Blueprint("safety", __name__)


@bp.record_once
def _template_globals(state) -> None:
    state.app.jinja_env.globals["safety_sections_list"] = SAFETY_PLAN_SECTIONS


@bp.route("/safety-plan", methods=["GET", "POST"])
@requires(Permission.PATIENT_SELF)
def safety_plan():
    """The patient's own safety plan, written with their clinician."""
    actor = current_actor()
    return _safety_plan_page(actor, actor, url_for("safety.safety_plan"))


def _safety_plan_page(actor, patient, action_url):
    plan = services.safety_plan_of(patient.id)
    form = SafetyPlanForm(
        data=(plan.sections | {"version": plan.version})
        if plan and request.method == "GET"
        else None
    )
    conflict = None
    if form.validate_on_submit():
        try:
            plan = services.save_safety_plan(actor, patient, plan, form)
        except StaleDataError:
            db.session.rollback()
            conflict = services.safety_plan_of(patient.id)
        else:
            return redirect(action_url + "?saved=1", code=303)
    if request.method == "GET":
        audit("read", "safety_plan", patient_id=patient.id)
    return render_template(
        "safety/safety_plan.html",
        form=form,
        plan=plan,
        sections=SAFETY_PLAN_SECTIONS,
        action_url=action_url,
        conflict=conflict,
        person=patient if actor.is_staff else None,
    )


@bp.route("/staff/patients/<patient_id>/safety-plan", methods=["GET", "POST"])
@requires(Permission.CHECKINS_READ)
def staff_safety_plan(patient_id: str):
    """Edit a patient's safety plan together with them."""
    person = load_patient_or_404(patient_id, "safety_plan")
    return _safety_plan_page(
        current_actor(),
        person,
        url_for("safety.staff_safety_plan", patient_id=person.id),
    )


@bp.app_context_processor
def alert_count():
    """`open_alerts()` for the staff menu: the unresolved alerts this clinician may
    handle. One COUNT, run only when the menu asks, unless the header's query has
    counted them already (messages folds it into the unread counts)."""

    def open_alerts() -> int:
        actor = current_actor()
        if actor is None or not has_permission(actor, Permission.RISK_HANDLE):
            return 0
        if "open_alerts" not in g:
            g.open_alerts = services.open_alerts_count(actor)
        return g.open_alerts

    return {"open_alerts": open_alerts}


@bp.route("/staff/flags")
@requires(Permission.RISK_HANDLE)
def flags():
    """Unresolved risk alerts I may handle, oldest first."""
    rows = reading.open_flags_for(current_actor())
    audit_many("read", "risk_flag", [(r.flag.patient_id, r.flag.id) for r in rows])
    return render_template(
        "safety/flags.html",
        rows=rows,
        now=utcnow(),
        local_time=reading.local_time,
        duration_words=reading.duration_words,
        status_words=reading.STATUS_WORDS,
        source_words=SOURCE_WORDS,
    )


def _load_flag_or_404(flag_id: str) -> reading.HandledFlag:
    """The flag if the actor may handle it (the patient's circle, or the people the
    program pages for risk); else a denied audit row and 404."""
    handled = (
        reading.load_flag_for(current_actor(), flag_id) if is_id(flag_id) else None
    )
    if handled is None:
        known = db.session.get(RiskFlag, flag_id) if is_id(flag_id) else None
        audit(
            "read",
            "risk_flag",
            patient_id=known.patient_id if known else None,
            outcome=Outcome.DENIED,
        )
        abort(404)
    return handled


@bp.route("/staff/flags/<flag_id>")
@requires(Permission.RISK_HANDLE)
def flag(flag_id: str):
    """One alert: what raised it, how to reach the patient, who was told and when,
    and the steps: acknowledge, assess, resolve."""
    return _flag_page(_load_flag_or_404(flag_id))


@bp.post("/staff/flags/<flag_id>/acknowledge")
@requires(Permission.RISK_HANDLE)
def acknowledge_flag(flag_id: str):
    """'I am taking this now': the flag stops escalating."""
    handled = _load_flag_or_404(flag_id)
    return _flag_step(
        handled, escalation.acknowledge_flag, current_actor(), handled.flag
    )


@bp.post("/staff/flags/<flag_id>/assess")
@requires(Permission.RISK_HANDLE)
def assess_flag(flag_id: str):
    """Record the risk level, the plan and a note."""
    handled = _load_flag_or_404(flag_id)
    form = AssessForm(prefix="assess")
    if not form.validate_on_submit():
        return _flag_page(handled, assess_form=form)
    level = RiskLevel(form.risk_level.data)
    return _flag_step(
        handled,
        escalation.assess_flag,
        current_actor(),
        handled.flag,
        level,
        form.plan.data,
        form.note.data or "",
        assess_form=form,
    )


@bp.post("/staff/flags/<flag_id>/resolve")
@requires(Permission.RISK_HANDLE)
def resolve_flag(flag_id: str):
    """Close the alert with a note (only once it is assessed)."""
    handled = _load_flag_or_404(flag_id)
    form = ResolveForm(prefix="resolve")
    if not form.validate_on_submit():
        return _flag_page(handled, resolve_form=form)
    return _flag_step(
        handled,
        escalation.resolve_flag,
        current_actor(),
        handled.flag,
        form.note.data,
        resolve_form=form,
    )


def _flag_step(handled: reading.HandledFlag, step, *args, **forms):
    """Run one step; back to the alert on success, the page with the reason if not."""
    try:
        step(*args)
    except escalation.FlagStepError as problem:
        return _flag_page(handled, error=str(problem), **forms)
    return redirect(url_for("safety.flag", flag_id=handled.flag.id), code=303)


def _flag_page(
    handled: reading.HandledFlag, error=None, assess_form=None, resolve_form=None
):
    risk_flag, now = handled.flag, utcnow()
    audit(
        "read",
        "risk_flag",
        patient_id=risk_flag.patient_id,
        object_id=risk_flag.id,
        detail="with the answers, phone number and safety plan",
    )
    events = reading.flag_events(risk_flag)
    sources = {risk_flag.source} | {
        e.event.detail for e in events if e.event.kind == "positive_again"
    }
    step = escalation.next_step(risk_flag, handled.program, handled.settings)
    invalid = bool(
        (assess_form and assess_form.errors) or (resolve_form and resolve_form.errors)
    )
    return render_template(
        "safety/flag.html",
        handled=handled,
        flag=risk_flag,
        now=now,
        events=events,
        patient=reading.patient_contact(risk_flag),
        answers=risk_answers(risk_flag, sources, now),
        step=step,
        step_names=_names_for(step, events),
        assess_form=assess_form or AssessForm(prefix="assess", formdata=None),
        resolve_form=resolve_form or ResolveForm(prefix="resolve", formdata=None),
        error=error,
        FlagStatus=FlagStatus,
        local_time=reading.local_time,
        duration_words=reading.duration_words,
        event_words=reading.event_words,
        source_words=SOURCE_WORDS,
        sections=SAFETY_PLAN_SECTIONS,
    ), 422 if error or invalid else 200


def _names_for(step, events) -> list[str]:
    """Names of the people the next escalation reaches; those already in the history
    need no query."""
    if step is None:
        return []
    known = {e.event.recipient_id: e.recipient_name for e in events}
    missing = {p for p in step.people if p not in known}
    known |= reading.names_of(missing)
    return [known[p] for p in step.people if p in known]


# ---- the patient's replies after a risk answer ---------------------------------------
# Neutral addresses: a shared phone's history should not say what they are about.


@bp.post("/reply/call-me")
@requires(Permission.PATIENT_SELF)
def patient_asks_for_a_call():
    """'Please call me': recorded on the open alert, and its people told again."""
    return _patient_reply(PATIENT_CALL_ME)


@bp.post("/reply/safe-for-now")
@requires(Permission.PATIENT_SELF)
def patient_says_safe_for_now():
    """'I am safe for now': recorded on the open alert for the clinician who has it."""
    return _patient_reply(PATIENT_SAFE_NOW)


def _patient_reply(kind: str):
    if not ReplyForm().validate_on_submit():
        abort(400)
    patient = current_actor()
    try:
        services.record_patient_reply(patient, kind)
        recorded = True
    except services.NoOpenAlert:
        recorded = False
    ctx = load_patient_context(patient.id)
    return render_template("safety/replied.html", kind=kind, recorded=recorded, ctx=ctx)
