"""The conversation (patients and staff), the "anything new?" check, the peer's inbox,
sharing with the care team, being away, flags for a clinician, peer-support contacts
and the crisis phrase list."""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    abort,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.auth.models import User
from portal.blueprints.messages import inbox, services
from portal.blueprints.messages.forms import (
    AwayForm,
    ContactForm,
    FlagForm,
    HandledForm,
    MessageForm,
    PhrasesForm,
    SharingForm,
    StartForm,
)
from portal.blueprints.messages.models import ContactKind, FlagReason
from portal.blueprints.messages.text import linkify
from portal.blueprints.programs.context import load_patient_context
from portal.db import is_id, utcnow
from portal.rendering import refused_status, render_page, wants_fragment
from portal.security import Permission, Role, current_actor, has_permission, requires

bp = Blueprint("messages", __name__)

READERS = (Permission.MESSAGES_PATIENT, Permission.MESSAGES_STAFF)


# ---- template helpers ----------------------------------------------------------------


@bp.app_template_filter("linkify")
def linkify_filter(text: str):
    """Message text, escaped, with http(s) links: the only way message text is shown."""
    return linkify(text)


@bp.app_template_filter("waited")
def waited(since: datetime) -> str:
    """How long someone has waited, in plain words."""
    minutes = max(0, int((utcnow() - since).total_seconds() // 60))
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"


@bp.app_context_processor
def navigation_counts():
    """`unread_messages()` for the navigation. It runs the bell's count (and, for
    clinicians, the menu's count of open alerts) in the same query, so the header costs
    one query for all."""

    def unread_messages() -> int:
        actor = current_actor()
        if actor is None:
            return 0
        if "unread_messages" not in g:
            g.unread_messages = _count_for_header(actor)
        return g.unread_messages

    return {"unread_messages": unread_messages}


def _count_for_header(actor: User) -> int:
    counts = inbox.header_counts(actor)
    if counts is None:
        return 0
    g.setdefault("unread_notifications", counts[0])
    if counts[2] is not None:
        g.setdefault("open_alerts", counts[2])
    return counts[1]


def _load_or_404(thread_id: str) -> services.LoadedThread:
    loaded = services.load_thread(current_actor(), thread_id)
    if loaded is None:
        _denied(thread_id)
    return loaded


def _denied(thread_id: str, detail: str | None = None):
    """Audit a refused thread (its id only when it is one) and answer 404."""
    known = thread_id if is_id(thread_id) else None
    audit("read", "message", object_id=known, outcome=Outcome.DENIED, detail=detail)
    abort(404)


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


# ---- the conversation ----------------------------------------------------------------


@bp.route("/messages", methods=["GET", "POST"])
@requires(*READERS)
def index():
    """Patients: their conversation (started by their first message). Staff: the inbox,
    and (peers) starting a conversation with one of their patients."""
    actor = current_actor()
    if actor.is_staff:
        return _start_conversation(actor) if request.method == "POST" else _inbox(actor)
    thread_id = services.own_thread_id(actor)
    if thread_id is not None:
        return redirect(url_for("messages.thread", thread_id=thread_id), code=303)
    ctx = load_patient_context(actor.id)
    form = MessageForm()
    if ctx is not None and form.validate_on_submit():
        thread = services.open_thread(actor.id)
        sent = services.send_message(actor, thread, form.body.data, ctx, form.key)
        if sent.crisis_phrases:
            session["message_crisis"] = thread.id
        return redirect(url_for("messages.thread", thread_id=thread.id), code=303)
    audit("read", "message", patient_id=actor.id, detail="no messages yet")
    status = 200 if request.method == "GET" else refused_status()
    return render_template(
        "messages/thread.html",
        **_patient_page(actor, ctx, None, form),
    ), status


def _start_conversation(actor: User):
    form = StartForm()
    if not form.validate_on_submit():
        abort(404)
    patient_id = form.patient_id.data
    if not inbox.may_start(actor, patient_id):
        audit("create", "message", patient_id=None, outcome=Outcome.DENIED)
        abort(404)
    thread = services.open_thread(patient_id)
    audit("create", "message_thread", patient_id=patient_id, object_id=thread.id)
    return redirect(url_for("messages.thread", thread_id=thread.id), code=303)


@bp.route("/messages/<thread_id>", methods=["GET", "POST"])
@requires(*READERS)
def thread(thread_id: str):
    """One conversation: the latest messages (or older ones), and writing a message."""
    actor, loaded = current_actor(), _load_or_404(thread_id)
    form, crisis = MessageForm(), _crisis_to_show(thread_id)
    if request.method == "POST" and form.validate_on_submit():
        if not _may_write(loaded):
            form.body.errors.append(NOT_ENROLLED)
        else:
            sent = services.send_message(
                actor, loaded.thread, form.body.data, loaded.ctx, form.key
            )
            if not wants_fragment():
                if sent.crisis_phrases:  # shown after the redirect; nothing in the URL
                    session["message_crisis"] = thread_id
                return redirect(
                    url_for("messages.thread", thread_id=thread_id), code=303
                )
            crisis = bool(sent.crisis_phrases)
            loaded, form = (
                services.load_thread(actor, thread_id),
                MessageForm(formdata=None),
            )
    before = _int_arg("before")
    conversation = services.conversation(actor, loaded, before)
    if before is None and loaded.thread.last_seq > loaded.my_read_seq:
        services.mark_read(actor, loaded.thread, loaded.thread.last_seq)
    page = _thread_page(actor, loaded, conversation, form, crisis)
    return render_page(
        "messages/thread.html",
        "messages/_conversation.html",
        refused_status() if form.errors else 200,
        **page,
    )


def _crisis_to_show(thread_id: str) -> bool:
    """Crisis help kept in the server-side session across the redirect after sending."""
    if "message_crisis" not in session:  # popping a missing key would rewrite the row
        return False
    return session.pop("message_crisis") == thread_id


NOT_ENROLLED = _l(
    "You cannot send messages here now, because you are not enrolled in the program. "
    "If you need help now, call or text 988."
)


def _may_write(loaded: services.LoadedThread) -> bool:
    """Anyone who may read may write, while the patient is enrolled."""
    return loaded.ctx is not None


def _thread_page(actor, loaded, conversation, form, crisis: bool = False) -> dict:
    if actor.role is Role.PATIENT:
        page = _patient_page(actor, loaded.ctx, loaded, form)
    else:
        page = _staff_page(actor, loaded, form)
    return page | {
        "conversation": conversation,
        "crisis": crisis,
        "plan": _safety_plan(actor.id) if crisis else None,
    }


def _patient_page(actor, ctx, loaded, form) -> dict:
    readers = inbox.readers_of(actor.id)
    return {
        "loaded": loaded,
        "ctx": ctx,
        "form": form,
        "readers": readers,
        "outlook": services.reply_outlook(ctx.program) if ctx else None,
        "conversation": None,
        "crisis": False,
        "plan": None,
        "is_patient": True,
    }


def _staff_page(actor, loaded, form) -> dict:
    thread = loaded.thread
    is_peer = has_permission(actor, Permission.MESSAGES_PEER)
    flags = services.open_flags(thread.id)
    return {
        "loaded": loaded,
        "ctx": loaded.ctx,
        "form": form,
        "readers": inbox.readers_of(thread.patient_id),
        "outlook": None,
        "flags": flags,
        "flag_form": FlagForm(formdata=None, prefix="flag"),
        "handled_form": HandledForm(formdata=None, prefix="handled")
        if flags and has_permission(actor, Permission.MESSAGES_CLINICAL)
        else None,
        "contact_form": _contact_form(from_request=False) if is_peer else None,
        "contacts": services.recent_contacts(thread.patient_id) if is_peer else [],
        "is_patient": False,
    }


def _contact_form(from_request: bool = True) -> ContactForm:
    form = (
        ContactForm(prefix="contact")
        if from_request
        else ContactForm(formdata=None, prefix="contact")
    )
    if not form.contact_on.data:
        form.contact_on.data = utcnow().date()
    if not form.kind.data:
        form.kind.data = ContactKind.MESSAGE.value
    return form


def _safety_plan(patient_id: str):
    from portal.blueprints.safety.models import SafetyPlan

    return db.session.scalar(
        select(SafetyPlan).where(SafetyPlan.patient_id == patient_id)
    )


# ---- the "anything new?" check -------------------------------------------------------


@bp.route("/messages/<thread_id>/updates")
@requires(*READERS)
def updates(thread_id: str):
    """Polled every few seconds by an open conversation: 304 (one query, no audit row:
    it shows nothing) when nothing changed, else the new messages to append."""
    session.passive = True  # a poll is not activity: the idle timeout still applies
    actor = current_actor()
    version = services.poll_version(actor, thread_id)
    if version is None:
        _denied(thread_id, "updates")
    etag = services.make_etag(*version)
    if request.if_none_match.contains(etag):
        response = make_response("", 304)
        response.set_etag(etag)
        return response
    return _changes(actor, thread_id, etag)


def _changes(actor: User, thread_id: str, etag: str):
    loaded = services.load_thread(actor, thread_id)
    after = _int_arg("after") or 0
    last = loaded.thread.last_seq
    fresh = services.messages_between(
        thread_id, after, last + 1, services.PAGE_SIZE + 1
    )
    replace_all = len(fresh) > services.PAGE_SIZE
    fresh = fresh[-services.PAGE_SIZE :]
    if fresh:
        audit(
            "read",
            "message",
            patient_id=loaded.thread.patient_id,
            object_id=thread_id,
            detail=f"updates {fresh[0].seq}-{fresh[-1].seq}",
        )
    if last > loaded.my_read_seq:
        services.mark_read(actor, loaded.thread, last)
    latest = fresh[-1:] or services.messages_between(thread_id, last - 1, last + 1, 1)
    response = make_response(
        render_template(
            "messages/_updates.html",
            loaded=loaded,
            fresh=fresh,
            latest=latest,
            replace_all=replace_all,
            etag=services.make_etag(last, loaded.others_read_total),
            is_patient=actor.role is Role.PATIENT,
        )
    )
    response.set_etag(etag)
    return response


# ---- staff: inbox, flags, contacts ---------------------------------------------------


def _inbox(actor: User, oob: bool = False):
    rows = inbox.inbox(actor)
    page = {
        "oob": oob,
        "etag": inbox.inbox_version(actor),
        "rows": rows,
        "startable": inbox.startable(actor),
        "availability": inbox.availability_of(actor)
        if actor.role is Role.PEER
        else None,
        "covering_for": inbox.covering_for(actor),
    }
    if oob:  # the inbox's "anything new?" answer: swapped in out of band
        return render_template("messages/_inbox.html", **page)
    return render_page("messages/inbox.html", "messages/_inbox.html", **page)


@bp.route("/messages/inbox/updates")
@requires(Permission.MESSAGES_STAFF)
def inbox_updates():
    """Polled by an open inbox: 304 (one query) when nothing changed, else the inbox
    (swapped in out of band)."""
    session.passive = True  # a poll is not activity: the idle timeout still applies
    actor = current_actor()
    etag = inbox.inbox_version(actor)
    if request.if_none_match.contains(etag):
        response = make_response("", 304)
    else:
        response = make_response(_inbox(actor, oob=True))
    response.set_etag(etag)
    return response


@bp.route("/messages/<thread_id>/flag", methods=["POST"])
@requires(Permission.MESSAGES_STAFF)
def flag(thread_id: str):
    """Ask a clinician to look at this conversation, with a note."""
    actor, loaded = current_actor(), _load_or_404(thread_id)
    form = FlagForm(prefix="flag")
    if form.validate_on_submit():
        program = loaded.ctx.program if loaded.ctx else None
        services.raise_flag(
            loaded.thread,
            FlagReason.STAFF_CONCERN,
            program,
            note=form.note.data.strip(),
            raised_by=actor,
        )
        return redirect(url_for("messages.thread", thread_id=thread_id), code=303)
    return _staff_form_error(actor, loaded, flag_form=form)


@bp.route("/messages/<thread_id>/handled", methods=["POST"])
@requires(Permission.MESSAGES_CLINICAL)
def handled(thread_id: str):
    """A clinician has looked: close the open flags with a note."""
    actor, loaded = current_actor(), _load_or_404(thread_id)
    form = HandledForm(prefix="handled")
    if form.validate_on_submit():
        services.handle_flags(actor, loaded.thread, form.note.data.strip())
        still_readable = services.load_thread(actor, thread_id) is not None
        target = (
            url_for("messages.thread", thread_id=thread_id)
            if still_readable
            else url_for("messages.index")
        )
        return redirect(target, code=303)
    return _staff_form_error(actor, loaded, handled_form=form)


@bp.route("/messages/<thread_id>/contacts", methods=["POST"])
@requires(Permission.MESSAGES_PEER)
def contacts(thread_id: str):
    """Log a peer-support contact with this patient (HCPCS H0038)."""
    actor, loaded = current_actor(), _load_or_404(thread_id)
    form = _contact_form()
    if form.validate_on_submit():
        services.log_contact(
            actor,
            loaded.thread,
            services.ContactData(
                contact_on=form.contact_on.data,
                minutes=form.minutes.data,
                kind=ContactKind(form.kind.data),
                note=(form.note.data or "").strip() or None,
            ),
        )
        return redirect(
            url_for("messages.thread", thread_id=thread_id) + "#contacts", code=303
        )
    return _staff_form_error(actor, loaded, contact_form=form)


def _staff_form_error(actor, loaded, **forms):
    conversation = services.conversation(actor, loaded)
    page = _thread_page(actor, loaded, conversation, MessageForm(formdata=None))
    return render_template("messages/thread.html", **(page | forms)), refused_status()


# ---- patients: who can read ----------------------------------------------------------


@bp.route("/messages/sharing", methods=["GET", "POST"])
@requires(Permission.MESSAGES_PATIENT)
def sharing():
    """Choose which members of the care team may read and write in the conversation."""
    actor = current_actor()
    readers = inbox.readers_of(actor.id)
    form = SharingForm()
    if form.validate_on_submit():
        chosen = set(request.form.getlist("share"))
        services.save_consents(actor, readers, chosen)
        return redirect(url_for("messages.sharing", saved=1), code=303)
    audit("read", "message_consent", patient_id=actor.id)
    return render_template(
        "messages/sharing.html",
        form=form,
        readers=readers,
        saved=request.args.get("saved") == "1",
    )


# ---- peers: away and coverage --------------------------------------------------------


@bp.route("/messages/away", methods=["GET", "POST"])
@requires(Permission.MESSAGES_PEER)
def away():
    """Set yourself away, and choose the peer who covers your patients' messages."""
    actor = current_actor()
    row = inbox.availability_of(actor)
    choices = inbox.cover_choices(actor)
    form = AwayForm(
        data={"status": "away" if row.away else "here", "covering_id": row.covering_id}
        if request.method == "GET"
        else None
    )
    form.covering_id.choices = [("", "Nobody in particular")] + [
        (u.id, u.display_name) for u in choices
    ]
    error = None
    if form.validate_on_submit():
        try:
            inbox.set_away(
                actor, form.status.data == "away", form.covering_id.data or None
            )
        except inbox.CoverError as problem:
            error = str(problem)
        else:
            return redirect(url_for("messages.index"), code=303)
    status = 200 if request.method == "GET" else refused_status()
    return render_template(
        "messages/away.html", form=form, error=error, availability=row
    ), status


# ---- clinicians: the crisis phrase list ----------------------------------------------


@bp.route("/staff/messages/phrases", methods=["GET", "POST"])
@requires(Permission.MESSAGES_CLINICAL)
def phrases():
    """The program's crisis phrases: read them, change them."""
    from portal.blueprints.programs.access import programs_of

    actor = current_actor()
    programs = programs_of(actor)
    program = next(
        (p for p in programs if p.id == request.args.get("program")),
        programs[0] if programs else None,
    )
    if program is None:
        abort(404)
    form = PhrasesForm(
        data={"phrases": "\n".join(services.phrases_for(program.id))}
        if request.method == "GET"
        else None
    )
    if form.validate_on_submit():
        services.save_phrases(actor, program, form.phrases.data.splitlines())
        return redirect(
            url_for("messages.phrases", program=program.id, saved=1), code=303
        )
    saved_row = services.phrase_list(program.id)
    editor = (
        db.session.get(User, saved_row.updated_by_id)
        if saved_row and saved_row.updated_by_id
        else None
    )
    status = 200 if request.method == "GET" else refused_status()
    return render_template(
        "messages/phrases.html",
        form=form,
        program=program,
        programs=programs,
        saved_row=saved_row,
        editor=editor,
        saved=request.args.get("saved") == "1",
    ), status
