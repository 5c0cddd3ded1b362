"""The daily check-in, the screeners (built from their questionnaires), flag steps and
the safety plan."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DecimalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
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
from portal.blueprints.checkins.models import (
    SAFETY_PLAN_SECTIONS,
    Medication,
    RiskLevel,
)


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
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as problem:
            raise ValueError(
                "Write how many hours you slept as a number, like 7 or 6.5."
            ) from problem


KEY = [Optional(), Regexp(r"^[A-Za-z0-9-]{8,64}$", message="Please reload the page.")]
ZERO_TO_TEN = [(n, str(n)) for n in range(11)]


class CheckInForm(FlaskForm):
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


def screener_form(instrument: Instrument, formdata=None) -> FlaskForm:
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
    form_class = type(f"{instrument.value.upper()}Form", (FlaskForm,), fields)
    return form_class(formdata=formdata) if formdata is not None else form_class()


class AssessForm(FlaskForm):
    risk_level = SelectField(
        "Risk level",
        choices=[(r.value, r.value.capitalize()) for r in RiskLevel],
        validators=[InputRequired("Choose a risk level.")],
    )
    plan = TextAreaField(
        "Plan", validators=[InputRequired("Write the plan."), Length(max=2000)]
    )
    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)])


class ResolveForm(FlaskForm):
    note = TextAreaField(
        "How was this resolved?",
        validators=[InputRequired("Write how it was resolved."), Length(max=2000)],
    )


class SafetyPlanForm(FlaskForm):
    version = IntegerField(validators=[Optional()])


for _key, _label, _hint in SAFETY_PLAN_SECTIONS:
    setattr(
        SafetyPlanForm,
        _key,
        TextAreaField(
            _label, description=_hint, validators=[Optional(), Length(max=2000)]
        ),
    )
