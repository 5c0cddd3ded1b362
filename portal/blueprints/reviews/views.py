"""Utilization review pages: coverage and authorizations (admin staff and the
director: numbers and dates), the worklist, the packet and its PDF (clinicians of
the patient), the statement of medical necessity (the patient's prescriber or
therapist) and the billing days export (admin staff and the director)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from portal.audit import Outcome, audit, audit_many
from portal.blueprints.programs.access import (
    care_team,
    patient_circle_clause,
    programs_of,
)
from portal.blueprints.reviews import billing, coverage, packet
from portal.blueprints.reviews.forms import (
    AuthorizationForm,
    BillingForm,
    CoverageForm,
    PacketForm,
    PeriodForm,
    StatementForm,
)
from portal.blueprints.reviews.worklist import build_worklist
from portal.db import utcnow
from portal.rendering import refused_status
from portal.security import Permission, current_actor, requires

bp = Blueprint("reviews", __name__)


@bp.app_context_processor  # the record renders a packet page too (its release)
def _labels() -> dict:
    return {
        "auth_status_labels": coverage.STATUS_LABELS,
        "focus_labels": coverage.FOCUS_LABELS,
        "day_words": lambda d: d.strftime("%a %b %-d, %Y") if d else "None",
        "iso_words": lambda s: (
            date.fromisoformat(s).strftime("%a %b %-d, %Y") if s else "None"
        ),
    }


def _denied(data_kind: str):
    audit("read", data_kind, outcome=Outcome.DENIED)
    abort(404)


def send_stored_file(data: bytes, media_type: str, filename: str):
    """A file from the database as a download, never cached."""
    response = make_response(data)
    response.mimetype = media_type
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.cache_control.no_store = True
    response.cache_control.private = True
    return response


def _local_today(timezone: str) -> date:
    return utcnow().astimezone(ZoneInfo(timezone)).date()


# ---- coverage and authorizations (numbers and dates) ------------------------------


def _enrollment_or_404(patient_id: str):
    enrollment = coverage.load_enrollment(current_actor(), patient_id)
    if enrollment is None:
        _denied("coverage")
    return enrollment


@bp.route("/reviews/patients/<patient_id>/coverage")
@requires(Permission.REVIEWS_COVERAGE)
def coverage_page(patient_id: str):
    """The patient's coverage and authorizations with days used, and every change."""
    enrollment = _enrollment_or_404(patient_id)
    coverages, authorizations = coverage.coverage_of(enrollment)
    used = coverage.used_by_authorization(enrollment)
    history = coverage.history_of([c.id for c in coverages + authorizations])
    audit("read", "coverage", patient_id=enrollment.patient_id)
    return render_template(
        "reviews/coverage.html",
        enrollment=enrollment,
        coverages=coverages,
        authorizations=authorizations,
        used=used,
        history=history,
    )


@bp.route("/reviews/patients/<patient_id>/coverage/new", methods=["GET", "POST"])
@requires(Permission.REVIEWS_COVERAGE)
def add_coverage(patient_id: str):
    """Add who pays for the patient's enrollment."""
    enrollment = _enrollment_or_404(patient_id)
    form = CoverageForm()
    if form.validate_on_submit():
        try:
            coverage.add_coverage(current_actor(), enrollment, form.to_data())
        except coverage.CoverageError as error:
            form.payer.errors = [str(error)]
        else:
            flash("Saved the coverage.")
            return _to_coverage(enrollment.patient_id)
    return _form_page("reviews/coverage_form.html", form, enrollment, None)


@bp.route("/reviews/coverage/<coverage_id>", methods=["GET", "POST"])
@requires(Permission.REVIEWS_COVERAGE)
def change_coverage(coverage_id: str):
    """Change a coverage's payer, plan, member id or primary payer."""
    found = coverage.load_coverage(current_actor(), coverage_id)
    if found is None:
        _denied("coverage")
    enrollment = _enrollment_or_404(found.patient_id)
    form = CoverageForm(obj=found)
    if form.validate_on_submit():
        try:
            coverage.change_coverage(current_actor(), found, form.to_data())
        except coverage.CoverageError as error:
            form.payer.errors = [str(error)]
        else:
            flash("Saved the coverage.")
            return _to_coverage(found.patient_id)
    return _form_page("reviews/coverage_form.html", form, enrollment, found)


@bp.route("/reviews/patients/<patient_id>/authorizations/new", methods=["GET", "POST"])
@requires(Permission.REVIEWS_COVERAGE)
def add_authorization(patient_id: str):
    """Enter a payer's authorization, request or denial."""
    enrollment = _enrollment_or_404(patient_id)
    form = _authorization_form(enrollment)
    if form.validate_on_submit():
        try:
            coverage.add_authorization(current_actor(), enrollment, form.to_data())
        except coverage.CoverageError as error:
            form.reference.errors = [str(error)]
        else:
            flash("Saved the authorization.")
            return _to_coverage(enrollment.patient_id)
    return _form_page("reviews/authorization_form.html", form, enrollment, None)


@bp.route("/reviews/authorizations/<authorization_id>/edit", methods=["GET", "POST"])
@requires(Permission.REVIEWS_COVERAGE)
def change_authorization(authorization_id: str):
    """Change an authorization's numbers, dates or status."""
    found = coverage.load_authorization(current_actor(), authorization_id)
    if found is None:
        _denied("authorization")
    enrollment = _enrollment_or_404(found.patient_id)
    form = _authorization_form(enrollment, found)
    if form.validate_on_submit():
        try:
            coverage.change_authorization(
                current_actor(), enrollment, found, form.to_data()
            )
        except coverage.CoverageError as error:
            form.reference.errors = [str(error)]
        else:
            flash("Saved the authorization.")
            return _to_coverage(found.patient_id)
    return _form_page("reviews/authorization_form.html", form, enrollment, found)


def _authorization_form(enrollment, found=None) -> AuthorizationForm:
    form = AuthorizationForm(obj=found)
    coverages, _ = coverage.coverage_of(enrollment)
    form.coverage_id.choices = [(c.id, f"{c.payer} ({c.member_id})") for c in coverages]
    return form


def _form_page(template: str, form, enrollment, subject):
    # A refused form changed nothing: the services check before they change.
    audit("read", "coverage", patient_id=enrollment.patient_id)
    status = 200 if request.method == "GET" else refused_status()
    return (
        render_template(template, form=form, enrollment=enrollment, subject=subject),
        status,
    )


def _to_coverage(patient_id: str):
    return redirect(url_for("reviews.coverage_page", patient_id=patient_id), code=303)


# ---- the worklist ----------------------------------------------------------------


@bp.route("/reviews")
@requires(Permission.REVIEWS_READ)
def worklist():
    """Authorizations by next review date, with warnings, and patients attending
    with no authorization."""
    actor = current_actor()
    programs = programs_of(actor)
    chosen = request.args.get("program")
    program = next((p for p in programs if p.id == chosen), None) or (
        programs[0] if programs else None
    )
    if program is None:
        abort(404)
    work = build_worklist(
        program, _local_today(program.timezone), patient_circle_clause(actor)
    )
    patients = [(row.authorization.patient_id, None) for row in work.rows]
    audit_many(
        "read", "authorization", patients + [(g.patient_id, None) for g in work.gaps]
    )
    return render_template(
        "reviews/worklist.html", work=work, program=program, programs=programs
    )


# ---- the packet ------------------------------------------------------------------


def _review_or_404(authorization_id: str) -> packet.Review:
    review = packet.load_review(current_actor(), authorization_id)
    if review is None:
        _denied("review_packet")
    return review


@bp.route("/reviews/authorizations/<authorization_id>/packet")
@requires(Permission.REVIEWS_READ)
def packet_preview(authorization_id: str):
    """The packet for a period (the authorization so far, unless chosen), the
    statement of medical necessity, and the packets made before."""
    review = _review_or_404(authorization_id)
    first, last = packet.default_period(review, _local_today(review.program.timezone))
    period = PeriodForm(request.args, start=first, end=last)
    statements = packet.statements_of(review.authorization.id)
    team = care_team(review.patient.id)
    error, content = None, None
    if request.args and not period.validate():
        error = "Give both days of the period."
    else:
        first, last = period.start.data or first, period.end.data or last
        try:
            content = packet.build_content(
                review, first, last, current_actor(), statements, team
            )
        except packet.PacketError as problem:
            error = str(problem)
    audit("read", "review_packet", patient_id=review.patient.id, detail="preview")
    return _packet_page(
        review, content, period, error, first, last, statements=statements, team=team
    )


def _packet_page(
    review, content, period, error, first, last, status=None, statements=None, team=None
):
    actor = current_actor()
    if statements is None:
        statements = packet.statements_of(review.authorization.id)
    statement = statements[0] if statements else None
    return (
        render_template(
            "reviews/packet.html",
            review=review,
            content=content,
            period=period,
            error=error,
            statement=statement,
            statement_form=StatementForm(
                text=statement.text if statement else None, formdata=None
            ),
            may_sign=packet.may_sign(actor, review.patient.id, team),
            packet_form=PacketForm(start=first, end=last, formdata=None),
            packets=packet.packets_of(review.authorization.id),
        ),
        status or (422 if error else 200),
    )


@bp.route("/reviews/authorizations/<authorization_id>/statement", methods=["POST"])
@requires(Permission.REVIEWS_SIGN)
def save_statement(authorization_id: str):
    """Write or change the draft statement of medical necessity."""
    review = _review_or_404(authorization_id)
    form = StatementForm()
    try:
        if not form.validate():
            raise packet.PacketError(next(iter(form.errors.values()))[0])
        packet.save_statement(current_actor(), review, form.text.data)
    except packet.PacketError as error:
        return _refused(review, str(error))
    flash("Saved the statement. Sign it when it is ready.")
    return _to_packet(review)


@bp.route("/reviews/authorizations/<authorization_id>/statement/sign", methods=["POST"])
@requires(Permission.REVIEWS_SIGN)
def sign_statement(authorization_id: str):
    """Sign the statement: name, role and time; it is locked from then on."""
    review = _review_or_404(authorization_id)
    form = PacketForm()  # only its CSRF token is used
    form.validate()
    if form.csrf_token.errors:
        abort(400)
    try:
        packet.sign_statement(current_actor(), review)
    except packet.PacketError as error:
        return _refused(review, str(error))
    flash("Signed. The statement can no longer change; a change makes a new version.")
    return _to_packet(review)


@bp.route("/reviews/authorizations/<authorization_id>/packets", methods=["POST"])
@requires(Permission.REVIEWS_READ)
def make_packet(authorization_id: str):
    """Save the packet for the period and make its PDF."""
    review = _review_or_404(authorization_id)
    form = PacketForm()
    try:
        if not form.validate():
            raise packet.PacketError("Give both days of the period.")
        made = packet.make_packet(
            current_actor(), review, form.start.data, form.end.data
        )
    except packet.PacketError as error:
        return _refused(review, str(error))
    return redirect(url_for("reviews.saved_packet", packet_id=made.id), code=303)


def _refused(review, message: str):
    """The packet page with why nothing was done (the services check first)."""
    first, last = packet.default_period(review, _local_today(review.program.timezone))
    period = PeriodForm(formdata=None, start=first, end=last)
    audit("read", "review_packet", patient_id=review.patient.id, detail="refused")
    return _packet_page(review, None, period, message, first, last, refused_status())


def _to_packet(review):
    return redirect(
        url_for("reviews.packet_preview", authorization_id=review.authorization.id),
        code=303,
    )


def _packet_or_404(packet_id: str):
    found = packet.load_packet(current_actor(), packet_id)
    if found is None:
        _denied("review_packet")
    return found


@bp.route("/reviews/packets/<packet_id>")
@requires(Permission.REVIEWS_READ)
def saved_packet(packet_id: str):
    """A saved packet as it was made, printable, with its PDF and release."""
    found = _packet_or_404(packet_id)
    audit("read", "review_packet", patient_id=found.patient_id, object_id=found.id)
    return render_template(
        "reviews/saved_packet.html", packet=found, content=found.content
    )


@bp.route("/reviews/packets/<packet_id>/file")
@requires(Permission.REVIEWS_READ)
def packet_file(packet_id: str):
    """The packet's PDF, as it was made (stored in the database)."""
    found = _packet_or_404(packet_id)
    stored = packet.packet_file(found)
    if stored is None:
        abort(404)
    audit("download", "review_packet", patient_id=found.patient_id, object_id=found.id)
    return send_stored_file(stored.data, stored.media_type, stored.filename)


# ---- billing -----------------------------------------------------------------------


@bp.route("/reviews/billing", methods=["GET", "POST"])
@requires(Permission.REVIEWS_BILLING)
def billing_page():
    """Make a program's billing days CSV for a month; the exports made before."""
    actor = current_actor()
    form = BillingForm()
    form.program_id.choices = [(p.id, p.name) for p in programs_of(actor)]
    if form.validate_on_submit():
        program = billing.load_program(actor, form.program_id.data)
        try:
            if program is None:
                raise billing.BillingError("Choose one of your programs.")
            month = billing.parse_month(form.month.data)
        except billing.BillingError as error:
            form.month.errors = [str(error)]
        else:
            made = billing.export_billing(actor, program, month)
            flash(f"Made {made.filename}.")
            return redirect(url_for("reviews.billing_page"), code=303)
    audit("read", "billing_days", detail="exports list")
    status = 200 if request.method == "GET" else refused_status()
    files = billing.billing_files(actor)
    return render_template("reviews/billing.html", form=form, files=files), status


@bp.route("/reviews/billing/<file_id>")
@requires(Permission.REVIEWS_BILLING)
def billing_file(file_id: str):
    """Download one billing days CSV."""
    found = billing.load_billing_file(current_actor(), file_id)
    if found is None:
        _denied("billing_days")
    audit("download", "billing_days", object_id=found.id)
    return send_stored_file(found.data, found.media_type, found.filename)
