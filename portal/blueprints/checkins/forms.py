"""The daily check-in, the screeners (built from their questionnaires), flag steps and
the safety plan."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
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

from portal.blueprints.checkins.instruments import (
    CSSRS_RECENT_QUESTION,
    Instrument,
    worded_for,
)
from portal.blueprints.checkins.models import Medication
from portal.blueprints.checkins.services import CheckInData
from portal.forms import PortalForm

CHOOSE_AN_ANSWER = _l("Choose an answer.")


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
            raise StopValidation(required.message if required else CHOOSE_AN_ANSWER)


class Hours(DecimalField):
    MESSAGE = _l("Write how many hours you slept as a number, like 7 or 6.5.")

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


KEY = [
    Optional(),
    Regexp(r"^[A-Za-z0-9-]{8,64}$", message=_l("Please reload the page.")),
]
ZERO_TO_TEN = [(n, str(n)) for n in range(11)]


class CheckInForm(PortalForm):
    mood = Choice(
        _l("How is your mood right now?"),
        choices=ZERO_TO_TEN,
        coerce=int,
        validators=[InputRequired(_l("Choose a number for your mood."))],
        description=_l("0 is the worst, 10 is the best."),
    )
    craving = Choice(
        _l("How strong are your cravings?"),
        choices=ZERO_TO_TEN,
        coerce=int,
        validators=[InputRequired(_l("Choose a number for cravings."))],
        description=_l("0 is none, 10 is the strongest."),
    )
    sleep_hours = Hours(
        _l("How many hours did you sleep last night?"),
        places=1,
        validators=[
            InputRequired(_l("Write how many hours you slept.")),
            NumberRange(0, 24, message=_l("Write a number from 0 to 24.")),
        ],
    )
    medication = Choice(
        _l("Did you take your medicine as prescribed?"),
        choices=[
            (Medication.YES.value, _l("Yes")),
            (Medication.NO.value, _l("No")),
            (Medication.NONE_PRESCRIBED.value, _l("I have no medicine prescribed")),
        ],
        validators=[InputRequired(_l("Choose an answer about medicine."))],
    )
    feels_safe = Choice(
        _l("Do you feel safe right now?"),
        choices=[("yes", _l("Yes")), ("no", _l("No"))],
        validators=[InputRequired(_l("Tell us if you feel safe right now."))],
    )
    note = TextAreaField(
        _l("Anything else you want your team to know? (optional)"),
        validators=[
            Optional(),
            Length(max=1000, message=_l("Please keep it under 1000 characters.")),
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

    # The language the questionnaire was shown in (the page's), posted back with it.
    language = HiddenField()

    def recent_behavior(self) -> bool:
        """The C-SSRS follow-up: was the behaviour within the past 3 months?"""
        recent = getattr(self, "recent", None)
        return bool(recent is not None and recent.data)


def screener_form(
    instrument: Instrument, formdata=None, language: str = "en", **options
) -> ScreenerForm:
    """A form class with one required radio question per item of the questionnaire,
    in its published wording in `language` (English when it has none)."""
    questionnaire = worded_for(instrument, language)
    choices = [(a.value, a.text) for a in questionnaire.answers]
    fields = {"idempotency_key": HiddenField(validators=KEY)}
    for number, item in enumerate(questionnaire.items, start=1):
        required = (
            Optional()
            if instrument is Instrument.CSSRS and number in (3, 4, 5)
            else InputRequired(
                _l("Question %(number)s needs an answer.", number=number)
            )
        )
        fields[f"q{number}"] = Choice(
            item.text, choices=choices, coerce=int, validators=[required]
        )
    if instrument is Instrument.CSSRS:
        # The instrument's own follow-up, in its own words (English, as the C-SSRS).
        fields["recent"] = Choice(
            CSSRS_RECENT_QUESTION,
            choices=[(1, "Yes"), (0, "No")],
            coerce=int,
            validators=[Optional()],
        )
    form_class = type(f"{instrument.value.upper()}Form", (ScreenerForm,), fields)
    if formdata is not None:
        options["formdata"] = formdata
    return form_class(**options)
