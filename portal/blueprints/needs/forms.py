"""Asking for a ride, housing help or other help; adding to and cancelling a request;
the case manager's update and reassign forms; response-time rules; time away."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

from portal.blueprints.needs.models import (
    HelpAnswer,
    HousingSituation,
    NeedOutcome,
    OtherNeed,
    TaskStatus,
    Urgency,
)
from portal.dates import date_in_range
from portal.forms import PortalForm

URGENCY_CHOICES = [
    (str(int(Urgency.URGENT)), _l("Today or tomorrow")),
    (str(int(Urgency.SOON)), _l("This week")),
    (str(int(Urgency.ROUTINE)), _l("No rush")),
]
HOUSING_CHOICES = [
    (HousingSituation.STABLE.value, _l("I have a place to live, and it is OK for now")),
    (HousingSituation.AT_RISK.value, _l("I may lose my place soon")),
    (HousingSituation.HOMELESS.value, _l("I have no place to stay")),
    (HousingSituation.SHELTER.value, _l("I am staying in a shelter")),
]
OTHER_CHOICES = [
    (OtherNeed.FOOD.value, _l("Food")),
    (OtherNeed.UTILITIES.value, _l("Power, gas, heat or water bills")),
    (OtherNeed.PHONE.value, _l("A phone or phone service")),
    (OtherNeed.CHILDCARE.value, _l("Childcare")),
    (OtherNeed.WORK.value, _l("Work or a job")),
    (OtherNeed.MONEY.value, _l("Money for basics")),
]
CANCEL_CHOICES = [
    ("I do not need it anymore.", _l("I do not need it anymore")),
    ("I found another way.", _l("I found another way")),
    ("I asked by mistake.", _l("I asked by mistake")),
]
OUTCOME_LABELS = {
    NeedOutcome.ARRANGED: "Arranged",
    NeedOutcome.REFERRED: "Referred to another service",
    NeedOutcome.PARTLY: "Partly arranged",
    NeedOutcome.NOT_POSSIBLE: "Not possible",
    NeedOutcome.NO_LONGER_NEEDED: "No longer needed",
}
STATUS_LABELS = {
    TaskStatus.DRAFT: "Draft",
    TaskStatus.REQUESTED: "Requested",
    TaskStatus.ACCEPTED: "Accepted",
    TaskStatus.IN_PROGRESS: "In progress",
    TaskStatus.ON_HOLD: "On hold",
    TaskStatus.COMPLETED: "Completed",
    TaskStatus.FAILED: "Failed",
    TaskStatus.REJECTED: "Rejected",
    TaskStatus.CANCELLED: "Cancelled",
    TaskStatus.ENTERED_IN_ERROR: "Entered in error",
}
# What a patient reads about their request's status: plain words, no jargon.
PATIENT_STATUS = {
    TaskStatus.DRAFT: _l("Not sent yet."),
    TaskStatus.REQUESTED: _l("Sent. We will get back to you soon."),
    TaskStatus.ACCEPTED: _l("Your case manager is on it."),
    TaskStatus.IN_PROGRESS: _l("We are working on it."),
    TaskStatus.ON_HOLD: _l("On hold for now."),
    TaskStatus.COMPLETED: _l("Done."),
    TaskStatus.FAILED: _l("We could not arrange it."),
    TaskStatus.REJECTED: _l("We cannot help with this one."),
    TaskStatus.CANCELLED: _l("Cancelled."),
    TaskStatus.ENTERED_IN_ERROR: _l("Removed. It was made by mistake."),
}
OTHER_LABELS = {OtherNeed(value): label for value, label in OTHER_CHOICES}
HOUSING_LABELS = {HousingSituation(value): label for value, label in HOUSING_CHOICES}
URGENCY_LABELS = {
    Urgency.URGENT: "Urgent",
    Urgency.SOON: "Soon",
    Urgency.ROUTINE: "Routine",
}
SHORT = 300
LONG = 2000


def _text(max_len: int, message=None) -> list:
    """Required (with `message`) or optional text of at most `max_len` letters."""
    checks = [DataRequired(message)] if message else [Optional()]
    too_long = _l("Please keep it under %(num)s letters.", num=max_len)
    return [*checks, Length(max=max_len, message=too_long)]


class RideForm(PortalForm):
    ride_date = DateField(
        _l("What day do you need the ride?"),
        validators=[InputRequired(_l("Choose the day."))],
    )
    ride_time = TimeField(
        _l("What time do you need to be picked up?"),
        validators=[InputRequired(_l("Choose the time."))],
        description=_l("For example: 8:15 AM."),
    )
    pickup = StringField(
        _l("Where should we pick you up?"),
        validators=_text(SHORT, _l("Write the pickup address.")),
        description=_l("Street, number and town."),
    )
    destination = StringField(
        _l("Where are you going?"),
        validators=_text(SHORT, _l("Write where you are going.")),
        description=_l(
            "For example: the program, or a doctor's office and its address."
        ),
    )
    wheelchair = BooleanField(_l("I use a wheelchair"))
    access_needs = StringField(
        _l("Anything else the driver should know? (optional)"),
        validators=_text(SHORT),
        description=_l("For example: I use a walker, or I need help with steps."),
    )
    companions = StringField(
        _l("Who is coming with you? (optional)"),
        validators=_text(200),
        description=_l(
            "For example: my 5-year-old son. Leave it empty if you come alone."
        ),
    )
    details = TextAreaField(
        _l("Anything else? (optional)"),
        validators=_text(LONG),
    )


class HousingForm(PortalForm):
    situation = RadioField(
        _l("Where are you living now?"),
        choices=HOUSING_CHOICES,
        validators=[InputRequired(_l("Choose the one that fits best."))],
    )
    urgency = RadioField(
        _l("How soon do you need help?"),
        choices=URGENCY_CHOICES,
        validators=[InputRequired(_l("Choose how soon."))],
    )
    details = TextAreaField(
        _l("What would help?"),
        validators=_text(LONG, _l("Tell us a little about what would help.")),
        description=_l("For example: help with rent this month, or a bed for tonight."),
    )


class OtherForm(PortalForm):
    need = RadioField(
        _l("What do you need help with?"),
        choices=OTHER_CHOICES,
        validators=[InputRequired(_l("Choose one."))],
    )
    urgency = RadioField(
        _l("How soon do you need help?"),
        choices=URGENCY_CHOICES,
        validators=[InputRequired(_l("Choose how soon."))],
    )
    details = TextAreaField(
        _l("Tell us more"),
        validators=_text(LONG, _l("Tell us a little more.")),
        description=_l("What is going on, and what would help?"),
    )


class AddInfoForm(PortalForm):
    text = TextAreaField(
        _l("Add something to your request"),
        validators=_text(LONG, _l("Write what you want to add.")),
        description=_l("Your case manager will see it."),
    )


class CancelForm(PortalForm):
    reason = RadioField(
        _l("Why are you cancelling?"),
        choices=CANCEL_CHOICES,
        validators=[InputRequired(_l("Choose a reason."))],
    )


HELP_CHOICES = [
    (HelpAnswer.YES.value, _l("Yes")),
    (HelpAnswer.PARTLY.value, _l("Partly")),
    (HelpAnswer.NO.value, _l("No")),
]
HELP_LABELS = {
    HelpAnswer.YES: _l("Yes, I got the help."),
    HelpAnswer.PARTLY: _l("I got part of the help."),
    HelpAnswer.NO: _l("No, I did not get the help."),
}


class HelpAnswerForm(PortalForm):
    answer = RadioField(
        _l("Did you get the help?"),
        choices=HELP_CHOICES,
        validators=[InputRequired(_l("Choose yes, partly or no."))],
    )


class UpdateForm(PortalForm):
    version = IntegerField(validators=[InputRequired("Reload the page.")])
    status = SelectField("Status", validators=[InputRequired("Choose a status.")])
    reason = StringField(
        "Reason (the patient sees this)",
        validators=_text(SHORT),
        description="Needed for rejected, cancelled, on hold and failed.",
    )
    urgency = SelectField(
        "Urgency",
        choices=[(str(int(u)), label) for u, label in URGENCY_LABELS.items()],
    )
    note = TextAreaField(
        "Note (optional)",
        validators=_text(4000),
    )
    note_visible = BooleanField("The patient can read this note")
    outcome = SelectField(
        "Outcome",
        choices=[("", "Not yet")]
        + [(o.value, label) for o, label in OUTCOME_LABELS.items()],
        default="",
        description="Needed for completed and failed.",
    )
    outcome_note = TextAreaField(
        "Outcome note for the record (optional)",
        validators=_text(LONG),
    )
    patient_outcome_note = TextAreaField(
        "What was arranged, for the patient (they see this)",
        validators=_text(LONG),
        description='For example "Pickup Thu 7:45 AM, white van". Shown when you '
        "close the request.",
    )


class ReassignForm(PortalForm):
    version = IntegerField(validators=[InputRequired("Reload the page.")])
    to = SelectField("Give it to", validate_choice=True)
    why = StringField(
        "Why? (staff only)",
        validators=[
            DataRequired("Write why."),
            Length(min=3, max=SHORT, message="Write 3 to 300 letters."),
        ],
    )


class AwayForm(PortalForm):
    back_on = DateField(
        "I am back on",
        validators=[Optional(), date_in_range],
        description="New requests go to other case managers until then.",
    )


HOURS = [Optional(), NumberRange(min=1, max=999, message="1 to 999 hours.")]


def sla_form_class(keys: list[str]) -> type[PortalForm]:
    """A form with a contact and a resolve field for every kind-urgency key."""
    fields = {}
    for key in keys:
        fields[f"{key}_contact"] = IntegerField(
            "First contact within (opening hours)",
            validators=[
                InputRequired("Enter a number of hours."),
                NumberRange(min=1, max=999, message="1 to 999 hours."),
            ],
        )
        fields[f"{key}_resolve"] = IntegerField(
            "Resolved within (opening hours, optional)", validators=HOURS
        )
    fields["marker"] = HiddenField(default="sla")
    return type("SlaForm", (PortalForm,), fields)
