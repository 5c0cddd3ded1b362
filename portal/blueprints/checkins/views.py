"""Check-in, screeners, trends and safety plan for patients; risk flags, trends and
safety plans for staff."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    make_response,
    render_template,
    request,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from portal import charts, db
from portal.audit import Outcome, audit
from portal.blueprints.checkins import services
from portal.blueprints.checkins.forms import CheckInForm, screener_form
from portal.blueprints.checkins.instruments import (
    QUESTIONNAIRES,
    SCREENER_SLUGS,
    SLUG_OF,
    Instrument,
    ScoreError,
    is_risk_positive,
    severity_words,
    worded_for,
)
from portal.blueprints.checkins.sending import patient_of_sending, sending_token
from portal.blueprints.programs.access import (
    load_patient_or_404,
)
from portal.blueprints.programs.context import load_patient_context, local_today
from portal.blueprints.safety import escalation
from portal.blueprints.safety.services import (
    how_the_program_reaches_out,
    safety_plan_of,
)
from portal.extensions import csrf
from portal.i18n import page_language
from portal.security import (
    Permission,
    current_actor,
    requires,
    resent_after_sign_out_to,
    signed_in_by,
)

bp = Blueprint("checkins", __name__)
log = logging.getLogger("portal.checkins")


@bp.app_context_processor
def checkin_status():
    """`checkin_status(ctx)` for the patient's Today page (a lower feature's page):
    today's check-in and the screeners due, one query, run only when Today renders."""
    return {"checkin_status": services.today_status}


@bp.record_once
def _template_globals(state) -> None:
    state.app.jinja_env.globals["sender_token"] = sender_token
    state.app.jinja_env.globals["severity_words"] = severity_words


def sender_token(key: str) -> str:
    """The signed token a form carries beside its key (see sending.py)."""
    return sending_token(current_actor().id, key)


def _context_or_404():
    ctx = load_patient_context(current_actor().id)
    if ctx is None:
        abort(404)
    return ctx


@bp.route("/check-in", methods=["GET", "POST"])
@resent_after_sign_out_to("checkins.queued_checkin")
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


@bp.post("/queued/check-in")
@csrf.exempt
@signed_in_by(patient_of_sending)
@requires(Permission.PATIENT_SELF)
def queued_checkin():
    """A check-in the phone kept with no signal, sent later by its service worker with
    no cookie: the form's signed token says whose it is."""
    form = CheckInForm(meta={"csrf": False})
    if form.validate():
        return _save_checkin(current_actor(), form)
    if form.feels_safe.data == "no":
        state = _checkin_state_or_404(current_actor())
        _risk_answer_not_saved(form, current_actor(), state, "checkin")
    return _refused_sending(form)


def _save_checkin(actor, form: CheckInForm):
    """Store valid answers and show the saved page (crisis help for a risk answer)."""
    data = form.checkin_data()
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
    except (DBAPIError, SQLAlchemyTimeoutError):
        return _not_saved_now(actor, state, "checkin", not data.feels_safe, key)
    plan = state.plan
    if result.risk and data.feels_safe:  # a resent key whose first answer was a risk
        plan = services.safety_plan_of(actor.id)
    return render_template(
        "checkins/checkin_saved.html",
        result=result,
        ctx=state,
        plan=plan,
        cssrs=SLUG_OF[Instrument.CSSRS],
        reach=how_the_program_reaches_out(state.program) if result.risk else None,
    )


def _checkin_state_or_404(actor, **parts) -> services.CheckInState:
    """What the check-in reads, or 404 for a patient not enrolled."""
    state = services.load_checkin_state(actor.id, **parts)
    if state is None:
        abort(404)
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
        gettext(
            "We could not save these answers. Please open the page again and send "
            "them once more. Your care team has been told that you do not feel safe."
        )
        if risk
        else gettext(
            "We could not save these answers. Please open the page again and send "
            "them once more."
        )
    )
    return render_template(
        "checkins/not_saved.html", message=message, risk=risk, ctx=ctx
    ), 409


def _not_saved_now(actor, ctx, source: str, risk: bool, key: str):
    """The database failed while saving: a risk answer still opens the flag, in a
    transaction of its own, and the answer is 503 so the phone keeps the sending and
    tries again later."""
    log.error("%s not saved: the database failed", source, exc_info=True)
    db.forget_failed_transaction()
    told = risk and services.note_positive_on_its_own(
        actor.id, ctx.program.id, source, key
    )
    message = (
        gettext(
            "We could not save your answers just now. If this phone keeps them, it "
            "will send them again by itself; if not, please send them again in a few "
            "minutes. Your care team has been told that you do not feel safe."
        )
        if told
        else gettext(
            "We could not save your answers just now. If this phone keeps them, it "
            "will send them again by itself; if not, please send them again in a few "
            "minutes."
        )
    )
    response = make_response(
        render_template("checkins/not_saved.html", message=message, risk=risk, ctx=ctx),
        503,
    )
    response.headers["Retry-After"] = "30"
    return response


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
@resent_after_sign_out_to("checkins.queued_screener")
@requires(Permission.PATIENT_SELF)
def screener(slug: str):
    """A PHQ-9, GAD-7 or C-SSRS screener, scored on the server."""
    instrument = SCREENER_SLUGS.get(slug)
    if instrument is None:
        abort(404)
    actor, ctx = current_actor(), _context_or_404()
    language = page_language()
    form = screener_form(instrument, language=language)
    if request.method == "GET" or not form.idempotency_key.data:
        form.idempotency_key.data = form.idempotency_key.data or str(uuid.uuid4())
    error = None
    if form.validate_on_submit():
        try:
            return _save_screener(actor, ctx, instrument, form)
        except ScoreError as problem:
            error = problem.words()
    if request.method == "POST" and is_risk_positive(
        instrument, _answers(instrument, form, missing=0)
    ):
        _risk_answer_not_saved(form, actor, ctx, instrument.value)
    return render_template(
        "checkins/screener.html",
        form=form,
        ctx=ctx,
        slug=slug,
        questionnaire=worded_for(instrument, language),
        error=error,
        plan=safety_plan_of(actor.id),
    ), 422 if request.method == "POST" else 200


@bp.post("/queued/questions/<slug>")
@csrf.exempt
@signed_in_by(patient_of_sending)
@requires(Permission.PATIENT_SELF)
def queued_screener(slug: str):
    """A questionnaire kept on the phone with no signal, sent later, as a check-in."""
    instrument = SCREENER_SLUGS.get(slug)
    if instrument is None:
        abort(404)
    actor, ctx = current_actor(), _context_or_404()
    form = screener_form(instrument, language=page_language(), meta={"csrf": False})
    if form.validate():
        try:
            return _save_screener(actor, ctx, instrument, form)
        except ScoreError:
            pass
    if is_risk_positive(instrument, _answers(instrument, form, missing=0)):
        _risk_answer_not_saved(form, actor, ctx, instrument.value)
    return _refused_sending(form)


def _refused_sending(form):
    """Answers that cannot be stored as they are (a risk answer among them has reached
    the team): the phone drops them rather than send them again."""
    log.info("queued sending refused: %s", ",".join(sorted(form.errors)))
    return make_response("These answers could not be saved.", 422)


def _answers(instrument: Instrument, form, missing=None) -> list:
    count = len(QUESTIONNAIRES[instrument].items)
    return [
        missing if form[f"q{n}"].data is None else form[f"q{n}"].data
        for n in range(1, count + 1)
    ]


def _language_shown(form) -> str:
    """The language the questionnaire was shown in: posted back by its page (a
    sending kept on the phone may come back after the patient changed language),
    else this page's."""
    return form.language.data or page_language()


def _save_screener(actor, ctx, instrument: Instrument, form):
    """Score and store valid answers and show the saved page (crisis help for a risk
    answer); ScoreError when the answers cannot be scored."""
    answers = _answers(instrument, form)
    try:
        result = services.save_screener(
            actor,
            ctx,
            instrument,
            answers,
            form.idempotency_key.data,
            recent_behavior=form.recent_behavior(),
            language=_language_shown(form),
        )
    except services.KeyTaken:
        risk = is_risk_positive(instrument, answers)
        return _key_taken(actor, ctx, instrument.value, risk)
    except (DBAPIError, SQLAlchemyTimeoutError):
        risk = is_risk_positive(instrument, answers)
        return _not_saved_now(
            actor, ctx, instrument.value, risk, form.idempotency_key.data
        )
    return render_template(
        "checkins/screener_saved.html",
        result=result,
        ctx=ctx,
        questionnaire=worded_for(instrument, page_language()),
        plan=safety_plan_of(actor.id),
        cssrs=SLUG_OF[Instrument.CSSRS],
        reach=how_the_program_reaches_out(ctx.program) if result.risk else None,
    )


@bp.route("/trends")
@requires(Permission.PATIENT_SELF)
def trends():
    """Mood, craving, sleep and scores over time, as pictures and as a table."""
    actor, ctx = current_actor(), _context_or_404()
    audit("read", "trends", patient_id=actor.id)
    return render_template(
        "checkins/trends.html", **_trend_charts(actor.id, ctx), person=None
    )


# Which way is better, for each measure on the trends page (said in words beside each
# picture, and in its description for screen readers).
TREND_BETTER = {
    "mood": _l("Higher is better."),
    "craving": _l("Lower is better."),
    "sleep": _l("Most adults feel best with 7 to 9 hours."),
    Instrument.PHQ9.value: _l("Lower is better."),
    Instrument.GAD7.value: _l("Lower is better."),
}


def _score_chart(instrument: Instrument, points):
    """A questionnaire's scores, with its severity bands drawn and named."""
    q = QUESTIONNAIRES[instrument]
    return charts.line_chart(
        f"c-{instrument.value}",
        gettext("%(name)s score, 0 to %(max)s", name=q.short_title, max=q.max_score),
        points,
        q.max_score,
        tuple(band.low for band in q.bands[1:]),
        named_bands=tuple((b.low, b.high, severity_words(b.label)) for b in q.bands),
        better=str(TREND_BETTER[instrument.value]),
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
        key: charts.line_chart(
            f"c-{key}", str(title), points, y_max, better=str(TREND_BETTER[key])
        )
        for key, title, points, y_max in (
            ("mood", _l("Mood, 0 to 10"), mood, 10),
            ("craving", _l("Craving, 0 to 10"), craving, 10),
            ("sleep", _l("Hours of sleep"), sleep, 12),
        )
    }
    for instrument in (Instrument.PHQ9, Instrument.GAD7):
        pictures[instrument.value] = _score_chart(instrument, score_points[instrument])
    return {
        "pictures": pictures,
        "better": TREND_BETTER,
        "data": data,
        "ctx": ctx,
        "questionnaires": QUESTIONNAIRES,
    }


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
