"""The daily check-in, the screeners (built from their questionnaires), flag steps and
the safety plan."""

from __future__ import annotations

from wtforms import (
    DecimalField,
    HiddenField,
    RadioField,
    TextAreaField,
)
from wtforms.validators import (
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    StopValidation,
)

from portal.blueprints.checkins.instruments import QUESTIONNAIRES, Instrument
from portal.blueprints.checkins.models import Medication
from portal.blueprints.checkins.services import CheckInData
from portal.forms import PortalForm


class Choice(RadioField):
    """A radio question whose wrong or missing answer gets its own plain message."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None  # not a number: reported by pre_validate in plain words

    def pre_validate(self, form):
        if self.data is None and any(isinstance(v, Optional) for v in self.validators):
            return
        if self.data not in {value for value, _label in self.choices}:
            required = next(
                (v for v in self.validators if isinstance(v, InputRequired)), None
            )
            raise StopValidation(required.message if required else "Choose an answer.")


class Hours(DecimalField):
    MESSAGE = "Write how many hours you slept as a number, like 7 or 6.5."

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as problem:
            raise ValueError(self.MESSAGE) from problem
        # Decimal reads "NaN", "sNaN" and "Infinity" too; no range check can compare
        # a signalling NaN, so they stop here.
        if self.data is not None and not self.data.is_finite():
            self.data = None
            raise ValueError(self.MESSAGE)


KEY = [Optional(), Regexp(r"^[A-Za-z0-9-]{8,64}$", message="Please reload the page.")]
ZERO_TO_TEN = [(n, str(n)) for n in range(11)]


class CheckInForm(PortalForm):
    mood = Choice(
        "How is your mood right now?",
        choices=ZERO_TO_TEN,
        coerce=int,
        validators=[InputRequired("Choose a number for your mood.")],
        description="0 is the worst, 10 is the best.",
    )
    craving = Choice(
        "How strong are your cravings?",
        choices=ZERO_TO_TEN,
        coerce=int,
        validators=[InputRequired("Choose a number for cravings.")],
        description="0 is none, 10 is the strongest.",
    )
    sleep_hours = Hours(
        "How many hours did you sleep last night?",
        places=1,
        validators=[
            InputRequired("Write how many hours you slept."),
            NumberRange(0, 24, message="Write a number from 0 to 24."),
        ],
    )
    medication = Choice(
        "Did you take your medicine as prescribed?",
        choices=[
            (Medication.YES.value, "Yes"),
            (Medication.NO.value, "No"),
            (Medication.NONE_PRESCRIBED.value, "I have no medicine prescribed"),
        ],
        validators=[InputRequired("Choose an answer about medicine.")],
    )
    feels_safe = Choice(
        "Do you feel safe right now?",
        choices=[("yes", "Yes"), ("no", "No")],
        validators=[InputRequired("Tell us if you feel safe right now.")],
    )
    note = TextAreaField(
        "Anything else you want your team to know? (optional)",
        validators=[
            Optional(),
            Length(max=1000, message="Please keep it under 1000 characters."),
        ],
    )
    idempotency_key = HiddenField(validators=KEY)

    def checkin_data(self) -> CheckInData:
        """The valid answers, as the service stores them."""
        return CheckInData(
            mood=self.mood.data,
            craving=self.craving.data,
            sleep_hours=self.sleep_hours.data,
            medication=Medication(self.medication.data),
            feels_safe=self.feels_safe.data == "yes",
            note=(self.note.data or "").strip() or None,
        )


class ScreenerForm(PortalForm):
    """The base of the forms screener_form() builds."""

    def recent_behavior(self) -> bool:
        """The C-SSRS follow-up: was the behaviour within the past 3 months?"""
        recent = getattr(self, "recent", None)
        return bool(recent is not None and recent.data)


def screener_form(instrument: Instrument, formdata=None, **options) -> ScreenerForm:
    """A form class with one required radio question per item of the questionnaire."""
    questionnaire = QUESTIONNAIRES[instrument]
    choices = [(a.value, a.text) for a in questionnaire.answers]
    fields = {"idempotency_key": HiddenField(validators=KEY)}
    for number, item in enumerate(questionnaire.items, start=1):
        required = (
            Optional()
            if instrument is Instrument.CSSRS and number in (3, 4, 5)
            else InputRequired(f"Question {number} needs an answer.")
        )
        fields[f"q{number}"] = Choice(
            item.text, choices=choices, coerce=int, validators=[required]
        )
    if instrument is Instrument.CSSRS:
        fields["recent"] = Choice(
            "If YES, was it within the past 3 months?",
            choices=[(1, "Yes"), (0, "No")],
            coerce=int,
            validators=[Optional()],
        )
    form_class = type(f"{instrument.value.upper()}Form", (ScreenerForm,), fields)
    if formdata is not None:
        options["formdata"] = formdata
    return form_class(**options)
