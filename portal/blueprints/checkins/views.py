"""Check-in, screeners, trends and safety plan for patients; risk flags, trends and
safety plans for staff."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.checkins import charts, escalation, services
from portal.blueprints.checkins.forms import (
    AssessForm,
    CheckInForm,
    ResolveForm,
    SafetyPlanForm,
    screener_form,
)
from portal.blueprints.checkins.instruments import (
    QUESTIONNAIRES,
    Instrument,
    ScoreError,
    is_risk_positive,
)
from portal.blueprints.checkins.models import (
    SAFETY_PLAN_SECTIONS,
    FlagStatus,
    Medication,
    RiskFlag,
    RiskFlagEvent,
    RiskLevel,
    SafetyPlan,
)
from portal.blueprints.schedule.services import load_patient_context, local_today
from portal.blueprints.staff.services import programs_of
from portal.security import (
    Permission,
    can_see_patient,
    current_actor,
    load_patient_or_404,
    requires,
)

bp = Blueprint("checkins", __name__)

# Neutral addresses: a shared phone's history should not name the questionnaire.
SCREENER_SLUGS = {"a": Instrument.PHQ9, "b": Instrument.GAD7, "c": Instrument.CSSRS}
SLUG_OF = {instrument: slug for slug, instrument in SCREENER_SLUGS.items()}


@bp.record_once
def _template_globals(state) -> None:
    state.app.jinja_env.globals["safety_sections_list"] = SAFETY_PLAN_SECTIONS
    state.app.jinja_env.globals["queue_owner"] = queue_owner


def queue_owner() -> str:
    """An opaque mark of who is signed in, in each check-in and questionnaire form: the
    phone's offline queue sends answers only under the account that gave them."""
    key = current_app.secret_key
    key = key if isinstance(key, bytes) else key.encode()
    mark = f"queue-owner:{current_actor().id}".encode()
    return hmac.new(key, mark, hashlib.sha256).hexdigest()[:32]


def _context_or_404():
    ctx = load_patient_context(current_actor().id)
    if ctx is None:
        abort(404)
    return ctx


def _safety_plan(patient_id: str) -> SafetyPlan | None:
    return db.session.scalar(
        select(SafetyPlan).where(SafetyPlan.patient_id == patient_id)
    )


@bp.route("/check-in", methods=["GET", "POST"])
@requires(Permission.PATIENT_SELF)
def checkin():
    """Today's check-in: about 30 seconds, editable all day."""
    actor = current_actor()
    form = CheckInForm() if request.method == "POST" else None
    if form is not None:
        if not form.idempotency_key.data:  # raw HTTP, no phone key: one of our own
            form.idempotency_key.data = str(uuid.uuid4())
        if form.validate():
            return _save_checkin(actor, form)
    # the form's page: read today's answers and the safety plan (crisis help is on it)
    state = _checkin_state_or_404(actor, page=True, plan=True)
    if form is None:
        form = CheckInForm(data=_prefill(state.todays))
        form.idempotency_key.data = str(uuid.uuid4())
    elif form.feels_safe.data == "no":
        _risk_answer_not_saved(form, actor, state, "checkin")
    audit("read", "checkin", patient_id=actor.id)
    return render_template(
        "checkins/checkin.html",
        form=form,
        ctx=state,
        existing=state.todays,
        plan=state.plan,
    ), 422 if request.method == "POST" else 200


def _save_checkin(actor, form: CheckInForm):
    """Store valid answers and show the saved page (crisis help for a risk answer)."""
    data = services.CheckInData(
        mood=form.mood.data,
        craving=form.craving.data,
        sleep_hours=form.sleep_hours.data,
        medication=Medication(form.medication.data),
        feels_safe=form.feels_safe.data == "yes",
        note=(form.note.data or "").strip() or None,
    )
    key = form.idempotency_key.data
    state = _checkin_state_or_404(actor, key=key, plan=not data.feels_safe)
    try:
        try:
            result = services.save_checkin(actor, state, data, key)
        except IntegrityError:
            # The same key, recorded as used by a request still in flight when this
            # one read: it has committed now. Roll back whatever this one wrote, read
            # again, and answer as a resend.
            db.session.rollback()
            state = _checkin_state_or_404(actor, key=key, plan=not data.feels_safe)
            if state.stored is None:
                raise
            result = services.save_checkin(actor, state, data, key)
    except services.KeyTaken:
        return _key_taken(actor, state, "checkin", risk=not data.feels_safe)
    plan = state.plan
    if result.risk and data.feels_safe:  # a resent key whose first answer was a risk
        plan = services.safety_plan_sections(actor.id)
    return render_template(
        "checkins/checkin_saved.html",
        result=result,
        ctx=state,
        plan=plan,
        cssrs=SLUG_OF[Instrument.CSSRS],
    )


def _checkin_state_or_404(actor, **parts) -> services.CheckInState:
    """The check-in's one read; it carries the header's counts, so the page asks for
    no more."""
    state = services.load_checkin_state(actor.id, **parts)
    if state is None:
        abort(404)
    g.unread_notifications = state.unread_notifications
    g.unread_messages = state.unread_messages
    return state


def _key_taken(actor, ctx, source: str, risk: bool):
    """Another patient's sending used this key: save nothing, show nothing of theirs,
    say so plainly (409), and let a risk answer still reach a human."""
    db.session.rollback()
    audit(
        "create",
        source,
        patient_id=actor.id,
        outcome=Outcome.DENIED,
        detail="key already used by another patient",
    )
    if risk:
        escalation.note_positive(actor, ctx.program, source, "not saved")
    message = (
        "We could not save these answers. Please open the page again and send them "
        "once more."
    )
    if risk:
        message += " Your care team has been told that you do not feel safe."
    return render_template(
        "checkins/not_saved.html", message=message, risk=risk, ctx=ctx
    ), 409


def _risk_answer_not_saved(form, actor, ctx, source: str) -> None:
    """A risk answer reaches a human even when other answers still need a fix (and are
    not saved): crisis help is on the patient's screen, the flag must open too."""
    if "csrf_token" not in form.errors:  # never from a forged request
        escalation.note_positive(actor, ctx.program, source, "not saved")


def _prefill(todays) -> dict | None:
    """Today's answers, to change them."""
    if todays is None:
        return None
    return {
        "mood": todays.mood,
        "craving": todays.craving,
        "sleep_hours": todays.sleep_hours,
        "medication": todays.medication.value,
        "feels_safe": "yes" if todays.feels_safe else "no",
        "note": todays.note,
    }


@bp.route("/questions/<slug>", methods=["GET", "POST"])
@requires(Permission.PATIENT_SELF)
def screener(slug: str):
    """A PHQ-9, GAD-7 or C-SSRS screener, scored on the server."""
    instrument = SCREENER_SLUGS.get(slug)
    if instrument is None:
        abort(404)
    actor, ctx = current_actor(), _context_or_404()
    form = screener_form(instrument)
    if request.method == "GET" or not form.idempotency_key.data:
        form.idempotency_key.data = form.idempotency_key.data or str(uuid.uuid4())
    error = None
    if form.validate_on_submit():
        answers = [
            form[f"q{n}"].data
            for n in range(1, len(QUESTIONNAIRES[instrument].items) + 1)
        ]
        try:
            result = services.save_screener(
                actor,
                ctx,
                instrument,
                answers,
                form.idempotency_key.data,
                recent_behavior=bool(
                    getattr(form, "recent", None) and form.recent.data
                ),
            )
        except ScoreError as problem:
            error = str(problem)
        except services.KeyTaken:
            return _key_taken(
                actor, ctx, instrument.value, is_risk_positive(instrument, answers)
            )
        else:
            return render_template(
                "checkins/screener_saved.html",
                result=result,
                ctx=ctx,
                questionnaire=QUESTIONNAIRES[instrument],
                plan=_safety_plan(actor.id),
                cssrs=SLUG_OF[Instrument.CSSRS],
            )
    items = range(1, len(QUESTIONNAIRES[instrument].items) + 1)
    if request.method == "POST" and is_risk_positive(
        instrument, [form[f"q{n}"].data or 0 for n in items]
    ):
        _risk_answer_not_saved(form, actor, ctx, instrument.value)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "checkins/screener.html",
        form=form,
        ctx=ctx,
        slug=slug,
        questionnaire=QUESTIONNAIRES[instrument],
        error=error,
        plan=_safety_plan(actor.id),
    ), status


@bp.route("/trends")
@requires(Permission.PATIENT_SELF)
def trends():
    """Mood, craving, sleep and scores over time, as pictures and as a table."""
    actor, ctx = current_actor(), _context_or_404()
    audit("read", "trends", patient_id=actor.id)
    return render_template(
        "checkins/trends.html", **_trend_charts(actor.id, ctx), person=None
    )


def _trend_charts(patient_id: str, ctx) -> dict:
    since = local_today(ctx) - timedelta(days=60)
    data = services.trends_for(patient_id, since)
    checkins = data.checkins
    mood = [(c.local_date, c.mood) for c in checkins]
    craving = [(c.local_date, c.craving) for c in checkins]
    sleep = [(c.local_date, float(c.sleep_hours)) for c in checkins]
    score_points = {
        i: [(r.completed_at.astimezone(ctx.tz).date(), r.total) for r in rs]
        for i, rs in data.scores.items()
    }
    pictures = {
        "mood": charts.line_chart("c-mood", "Mood, 0 to 10", mood, 10),
        "craving": charts.line_chart("c-craving", "Craving, 0 to 10", craving, 10),
        "sleep": charts.line_chart("c-sleep", "Hours of sleep", sleep, 12),
        "phq9": charts.line_chart(
            "c-phq9",
            "PHQ-9 score, 0 to 27",
            score_points[Instrument.PHQ9],
            27,
            (5, 10, 15, 20),
        ),
        "gad7": charts.line_chart(
            "c-gad7",
            "GAD-7 score, 0 to 21",
            score_points[Instrument.GAD7],
            21,
            (5, 10, 15),
        ),
    }
    return {
        "pictures": pictures,
        "data": data,
        "ctx": ctx,
        "questionnaires": QUESTIONNAIRES,
    }


@bp.route("/safety-plan", methods=["GET", "POST"])
@requires(Permission.PATIENT_SELF)
def safety_plan():
    """The patient's own safety plan, written with their clinician."""
    actor = current_actor()
    return _safety_plan_page(actor, actor, url_for("checkins.safety_plan"))


def _safety_plan_page(actor, patient, action_url):
    plan = _safety_plan(patient.id)
    form = SafetyPlanForm(
        data=(plan.sections | {"version": plan.version})
        if plan and request.method == "GET"
        else None
    )
    conflict = None
    if form.validate_on_submit():
        try:
            plan = save_safety_plan(actor, patient, plan, form)
        except StaleDataError:
            db.session.rollback()
            conflict = _safety_plan(patient.id)
        else:
            return redirect(action_url + "?saved=1", code=303)
    if request.method == "GET":
        audit("read", "safety_plan", patient_id=patient.id)
    return render_template(
        "checkins/safety_plan.html",
        form=form,
        plan=plan,
        sections=SAFETY_PLAN_SECTIONS,
        action_url=action_url,
        conflict=conflict,
        person=patient if actor.is_staff else None,
    )


def save_safety_plan(actor, patient, plan, form) -> SafetyPlan:
    """Save every section; a plan changed by someone else meanwhile conflicts."""
    if plan is None:
        plan = SafetyPlan(patient_id=patient.id, sections={})
        db.session.add(plan)
    elif form.version.data != plan.version:
        raise StaleDataError("changed since it was opened")
    plan.sections = {
        key: (form[key].data or "").strip() for key, _l, _h in SAFETY_PLAN_SECTIONS
    }
    plan.updated_by_id = actor.id
    plan.updated_at = services.utcnow()
    db.session.flush()
    audit("update", "safety_plan", patient_id=patient.id, object_id=plan.id)
    return plan


# ---- staff ---------------------------------------------------------------------------


@bp.route("/staff/patients/<patient_id>/trends")
@requires(Permission.CHECKINS_READ)
def staff_trends(patient_id: str):
    """A patient's check-ins and scores over time, for their clinicians."""
    person = load_patient_or_404(patient_id, "trends")
    ctx = load_patient_context(person.id)
    if ctx is None:
        abort(404)
    audit("read", "trends", patient_id=person.id)
    return render_template(
        "checkins/trends.html", **_trend_charts(person.id, ctx), person=person
    )


@bp.route("/staff/patients/<patient_id>/safety-plan", methods=["GET", "POST"])
@requires(Permission.CHECKINS_READ)
def staff_safety_plan(patient_id: str):
    """Edit a patient's safety plan together with them."""
    person = load_patient_or_404(patient_id, "safety_plan")
    return _safety_plan_page(
        current_actor(),
        person,
        url_for("checkins.staff_safety_plan", patient_id=person.id),
    )


@bp.route("/staff/flags")
@requires(Permission.RISK_HANDLE)
def flags():
    """Unresolved risk alerts in my programs, oldest first."""
    actor = current_actor()
    program_ids = [p.id for p in programs_of(actor)]
    rows = [
        f
        for f in db.session.scalars(
            select(RiskFlag)
            .where(
                RiskFlag.program_id.in_(program_ids),
                RiskFlag.status != FlagStatus.RESOLVED,
            )
            .order_by(RiskFlag.opened_at)
        )
        if _may_handle(actor, f)
    ]
    for flag in rows:
        audit("read", "risk_flag", patient_id=flag.patient_id, object_id=flag.id)
    names = _names({f.patient_id for f in rows})
    return render_template("checkins/flags.html", flags=rows, names=names)


def _names(ids) -> dict:
    from portal.blueprints.auth.models import User

    if not ids:
        return {}
    return dict(
        db.session.execute(
            select(User.id, User.display_name).where(User.id.in_(ids))
        ).all()
    )


def _may_handle(actor, flag: RiskFlag) -> bool:
    """The patient's circle, or the people this program pages for risk."""
    settings = escalation.settings_for(flag.program_id)
    paged = {settings.on_call_id, settings.backup_id, settings.after_hours_id}
    in_program = flag.program_id in {p.id for p in programs_of(actor)}
    return in_program and (actor.id in paged or can_see_patient(actor, flag.patient_id))


def _load_flag_or_404(flag_id: str) -> RiskFlag:
    flag = db.session.get(RiskFlag, flag_id) if len(flag_id) == 36 else None
    if flag is None or not _may_handle(current_actor(), flag):
        audit(
            "read",
            "risk_flag",
            patient_id=flag.patient_id if flag else None,
            outcome=Outcome.DENIED,
        )
        abort(404)
    return flag


@bp.route("/staff/flags/<flag_id>", methods=["GET", "POST"])
@requires(Permission.RISK_HANDLE)
def flag(flag_id: str):
    """One alert: who was told, when, and the steps: acknowledge, assess, resolve."""
    risk_flag = _load_flag_or_404(flag_id)
    actor, error = current_actor(), None
    assess_form, resolve_form = (
        AssessForm(prefix="assess"),
        ResolveForm(prefix="resolve"),
    )
    step = request.form.get("step") if request.method == "POST" else None
    try:
        if step == "acknowledge":
            escalation.acknowledge_flag(actor, risk_flag)
        elif step == "assess" and assess_form.validate_on_submit():
            escalation.assess_flag(
                actor,
                risk_flag,
                RiskLevel(assess_form.risk_level.data),
                assess_form.plan.data,
                assess_form.note.data or "",
            )
        elif step == "resolve" and resolve_form.validate_on_submit():
            escalation.resolve_flag(actor, risk_flag, resolve_form.note.data)
    except escalation.FlagStepError as problem:
        error = str(problem)
    if step and error is None and not (assess_form.errors or resolve_form.errors):
        return redirect(url_for("checkins.flag", flag_id=risk_flag.id), code=303)
    audit("read", "risk_flag", patient_id=risk_flag.patient_id, object_id=risk_flag.id)
    events = db.session.scalars(
        select(RiskFlagEvent)
        .where(RiskFlagEvent.flag_id == risk_flag.id)
        .order_by(RiskFlagEvent.at)
    ).all()
    names = _names(
        {risk_flag.patient_id}
        | {e.recipient_id for e in events if e.recipient_id}
        | {e.actor_id for e in events if e.actor_id}
    )
    return render_template(
        "checkins/flag.html",
        flag=risk_flag,
        events=events,
        names=names,
        assess_form=assess_form,
        resolve_form=resolve_form,
        error=error,
        FlagStatus=FlagStatus,
    ), 422 if error else 200
