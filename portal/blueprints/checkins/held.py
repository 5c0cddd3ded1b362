"""A risk answer posted while the database is down is held in Redis until a worker can
store it, so that it reaches the team even from a phone that keeps nothing (no
JavaScript, no service worker, a browser in private mode).

With the database gone, the patient's session cannot be read; the form's signed token
(sending.py) names the patient and the sending's key, and its signature is checked
with the app's secret alone. Only a risk answer ("I do not feel safe", PHQ-9 item 9,
any yes on the C-SSRS) is held, with the rest of that sending; the patient's page
says it was kept. A worker round stores each held sending as the phone's own resend
would: under its key, once, opening the risk flag. The key makes a second copy (the
phone's service worker sending the same answers later) a resend, never a second
check-in or a second alert."""

from __future__ import annotations

import json
import logging

from flask import Flask, current_app, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from redis import RedisError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.datastructures import MultiDict

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.checkins import services
from portal.blueprints.checkins.forms import CheckInForm, screener_form
from portal.blueprints.checkins.instruments import (
    QUESTIONNAIRES,
    SCREENER_SLUGS,
    Instrument,
    is_risk_positive,
)
from portal.blueprints.checkins.sending import patient_id_of_sending
from portal.blueprints.programs.context import load_patient_context
from portal.outage import redis_key, redis_of, when_database_down
from portal.security import Role
from portal.worker import task

log = logging.getLogger("portal.checkins")

QUEUE = "held-risk-answers"
CHECKIN_ENDPOINTS = {"checkins.checkin", "checkins.queued_checkin"}
SCREENER_ENDPOINTS = {"checkins.screener", "checkins.queued_screener"}
NOT_KEPT = {"csrf_token", "sender"}
KEPT_WORDS = _l(
    "Your answer that you do not feel safe is kept. It reaches your care team as "
    "soon as our records are back."
)
BATCH = 100


def _screener_answers(instrument: Instrument, form) -> list[int]:
    """The answers as numbers, 0 for one missing or not a number (as the screener's
    own refusal reads them to decide whether a risk answer is among them)."""
    answers = []
    for number in range(1, len(QUESTIONNAIRES[instrument].items) + 1):
        raw = form.get(f"q{number}", "")
        answers.append(int(raw) if raw.isdigit() and len(raw) < 3 else 0)
    return answers


def _risk_source(form) -> str | None:
    """The source of the risk answer this post carries ("checkin" or a screener's
    slug), or None when it carries none."""
    if request.endpoint in CHECKIN_ENDPOINTS:
        return "checkin" if form.get("feels_safe") == "no" else None
    if request.endpoint in SCREENER_ENDPOINTS:
        slug = (request.view_args or {}).get("slug")
        instrument = SCREENER_SLUGS.get(slug)
        answers = _screener_answers(instrument, form) if instrument else None
        if answers and is_risk_positive(instrument, answers):
            return slug
    return None


@when_database_down
def hold_risk_answer() -> str | None:
    """In the 503 handler: hold this post in Redis when it carries a risk answer."""
    if request.method != "POST":
        return None
    form = request.form
    source = _risk_source(form)
    if source is None:
        return None
    patient_id = patient_id_of_sending(form)
    client = redis_of()
    if patient_id is None or client is None:
        return None
    held = {
        "patient_id": patient_id,
        "source": source,
        "form": [
            (name, value)
            for name, value in form.items(multi=True)
            if name not in NOT_KEPT
        ],
    }
    try:
        client.lpush(redis_key(current_app, QUEUE), json.dumps(held))
    except RedisError:
        log.exception("a risk answer could not be held: Redis failed too")
        return None
    log.warning(
        "risk answer held in Redis while the database is down (sending %s)",
        form.get("idempotency_key"),
    )
    return str(KEPT_WORDS)


@task("release_held_risk_answers")
def release_held_risk_answers(app: Flask) -> int:
    """Store what was held while the database was down, oldest first. An item leaves
    Redis only once its sending is committed; a database failure stops the round and
    leaves the rest for the next one."""
    client = redis_of(app)
    if client is None:
        return 0
    queue = redis_key(app, QUEUE)
    try:
        items = client.lrange(queue, -BATCH, -1)[
            ::-1
        ]  # pushed left: oldest at the right
    except RedisError:
        log.warning("held risk answers could not be read: Redis does not answer")
        return 0
    stored = 0
    for item in items:
        try:
            # No page and no request here: the forms' words (never shown) in English.
            with force_locale("en"):
                _store(json.loads(item))
            db.session.commit()
        except (DBAPIError, SQLAlchemyTimeoutError):
            db.session.rollback()
            log.warning("held risk answers wait: the database failed again")
            break
        except (ValueError, KeyError, TypeError):
            db.session.rollback()
            log.error("a held risk answer could not be read; it is dropped")
        client.lrem(queue, 1, item)
        stored += 1
    return stored


def _store(held: dict) -> None:
    """Store one held sending as its patient, as the phone's resend would."""
    patient = db.session.get(User, held["patient_id"])
    form_data = MultiDict(held["form"])
    key = form_data.get("idempotency_key")
    if patient is None or not patient.is_active or patient.role is not Role.PATIENT:
        log.error("a held risk answer names no active patient; sending %s dropped", key)
        return
    ctx = load_patient_context(patient.id)
    if ctx is None:
        log.error(
            "a held risk answer's patient is not enrolled; sending %s dropped", key
        )
        return
    audit(
        "create",
        "held_risk_answer",
        patient_id=patient.id,
        object_id=key,
        actor=patient,
        detail="posted while the database was down; stored by the worker",
    )
    if held["source"] == "checkin":
        _store_checkin(patient, form_data, key)
    else:
        _store_screener(patient, ctx, SCREENER_SLUGS[held["source"]], form_data, key)


def _store_checkin(patient: User, form_data: MultiDict, key: str) -> None:
    form = CheckInForm(formdata=form_data, meta={"csrf": False})
    state = services.load_checkin_state(patient.id, key=key)
    if not form.validate():  # the risk answer reaches the team; the rest cannot be kept
        services.note_positive_on_its_own(patient.id, state.program.id, "checkin", key)
        return
    try:
        services.save_checkin(patient, state, form.checkin_data(), key)
    except (services.KeyTaken, IntegrityError):
        db.session.rollback()  # stored meanwhile (the phone's resend), or not theirs
        services.note_positive_on_its_own(patient.id, state.program.id, "checkin", key)


def _store_screener(patient, ctx, instrument: Instrument, form_data, key: str) -> None:
    form = screener_form(instrument, formdata=form_data, meta={"csrf": False})
    answers = _screener_answers(instrument, form_data)
    if form.validate():
        try:
            services.save_screener(
                patient,
                ctx,
                instrument,
                answers,
                key,
                recent_behavior=form.recent_behavior(),
                language=form.language.data or "en",
            )
            return
        except (services.KeyTaken, IntegrityError):
            db.session.rollback()
    services.note_positive_on_its_own(patient.id, ctx.program.id, instrument.value, key)
