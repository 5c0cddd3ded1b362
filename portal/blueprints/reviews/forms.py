"""Coverage, authorization, statement, packet period and billing forms."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.blueprints.programs.models import LevelOfCare
from portal.blueprints.reviews.coverage import (
    FOCUS_LABELS,
    SERVICE_CODES,
    STATUS_LABELS,
    AuthorizationData,
    CoverageData,
)
from portal.blueprints.reviews.models import AuthorizationStatus, CareFocus
from portal.forms import PortalForm

LEVEL_CHOICES = [
    (LevelOfCare.PHP.value, "PHP (partial hospitalization)"),
    (LevelOfCare.IOP.value, "IOP (intensive outpatient)"),
]


class CoverageForm(PortalForm):
    payer = StringField(
        "Payer", validators=[DataRequired("Give the payer's name."), Length(max=120)]
    )
    plan = StringField("Plan", validators=[Optional(), Length(max=120)])
    member_id = StringField(
        "Member id",
        validators=[
            DataRequired("Give the member id from the insurance card."),
            Length(max=40),
        ],
    )
    is_primary = BooleanField("This is the primary payer", default=True)

    def to_data(self) -> CoverageData:
        return CoverageData(
            self.payer.data or "",
            self.plan.data,
            self.member_id.data or "",
            bool(self.is_primary.data),
        )


class AuthorizationForm(PortalForm):
    coverage_id = SelectField("Coverage", validators=[InputRequired()])
    reference = StringField(
        "Payer's reference number",
        validators=[DataRequired("Give the payer's reference number."), Length(max=40)],
    )
    level_of_care = SelectField("Level of care", choices=LEVEL_CHOICES)
    focus = SelectField(
        "Care for",
        choices=[(focus.value, label) for focus, label in FOCUS_LABELS.items()],
    )
    service_code = SelectField(
        "Service code",
        choices=[
            (code, f"{code} - {text}") for code, (text, _) in SERVICE_CODES.items()
        ],
    )
    units = IntegerField(
        "Days authorized", validators=[InputRequired("Give the number of days.")]
    )
    starts_on = DateField(
        "First day", validators=[InputRequired("Give the first day.")]
    )
    ends_on = DateField("Last day", validators=[InputRequired("Give the last day.")])
    next_review_on = DateField("Next review", validators=[Optional()])
    status = SelectField(
        "Status",
        choices=[(status.value, label) for status, label in STATUS_LABELS.items()],
    )
    denial_reason = StringField(
        "Reason for the denial",
        validators=[Optional(), Length(max=300)],
        description="Only when denied.",
    )
    appeal_by = DateField(
        "Last day to appeal", validators=[Optional()], description="Only when denied."
    )

    def to_data(self) -> AuthorizationData:
        return AuthorizationData(
            coverage_id=self.coverage_id.data,
            reference=self.reference.data or "",
            level_of_care=LevelOfCare(self.level_of_care.data),
            focus=CareFocus(self.focus.data),
            service_code=self.service_code.data,
            units=self.units.data,
            starts_on=self.starts_on.data,
            ends_on=self.ends_on.data,
            next_review_on=self.next_review_on.data,
            status=AuthorizationStatus(self.status.data),
            denial_reason=self.denial_reason.data,
            appeal_by=self.appeal_by.data,
        )


class StatementForm(PortalForm):
    text = TextAreaField(
        "Why is this level of care still needed?",
        validators=[
            DataRequired("Write why this level of care is still needed."),
            Length(max=5000, message="Write at most 5,000 characters."),
        ],
        description="Symptoms, safety, what the patient is working on, and why a "
        "lower level of care is not enough yet. Once signed it cannot change; a "
        "change makes a new version.",
    )


class PeriodForm(PortalForm):
    class Meta:
        csrf = False  # a GET form: it only chooses what to show

    start = DateField("From", validators=[InputRequired("Give the first day.")])
    end = DateField("To", validators=[InputRequired("Give the last day.")])


class PacketForm(PortalForm):
    # ids of their own: the packet page also shows the period form's start and end
    start = DateField(
        "From", id="packet-start", validators=[InputRequired("Give the first day.")]
    )
    end = DateField(
        "To", id="packet-end", validators=[InputRequired("Give the last day.")]
    )


class BillingForm(PortalForm):
    program_id = SelectField("Program", validators=[InputRequired()])
    month = StringField(
        "Month",
        validators=[DataRequired("Choose a month.")],
        description="For example 2026-11.",
        render_kw={"type": "month"},
    )
