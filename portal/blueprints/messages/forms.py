"""Writing a message, flagging for a clinician, logging a contact, sharing, being away
and the crisis phrase list."""

from __future__ import annotations

import uuid

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from portal.blueprints.messages.models import MAX_MESSAGE_LENGTH, ContactKind
from portal.blueprints.messages.text import clean_body
from portal.dates import date_in_range
from portal.db import is_id
from portal.forms import PortalForm

MAX_PHRASES, MAX_PHRASE_LENGTH = 200, 80
CONTACT_KINDS = [
    (ContactKind.MESSAGE.value, "Messages"),
    (ContactKind.CALL.value, "Phone or video call"),
    (ContactKind.IN_PERSON.value, "In person"),
]


class MessageForm(PortalForm):
    """The patient's (or staff's) message: its words in the patient's language."""

    body = TextAreaField(
        _l("Your message"),
        validators=[
            DataRequired(_l("Write a message first.")),
            Length(
                max=MAX_MESSAGE_LENGTH,
                message=_l(
                    "Please keep it under 4,000 characters. "
                    "You can send the rest in a second message."
                ),
            ),
        ],
        render_kw={"maxlength": MAX_MESSAGE_LENGTH, "rows": 4},
    )

    # Made when the form is shown: the same message sent twice (a double tap, a
    # resend on a weak signal) is kept once.
    sent_key = HiddenField(default=lambda: str(uuid.uuid4()))

    def validate_body(self, field) -> None:
        field.data = clean_body(field.data or "")
        if not field.data:
            raise ValidationError(gettext("Write a message first."))

    @property
    def key(self) -> str | None:
        """The sending's key when it is one of ours (raw HTTP may send none)."""
        return self.sent_key.data if is_id(self.sent_key.data) else None


class FlagForm(PortalForm):
    note = TextAreaField(
        "What should the clinician know?",
        validators=[
            DataRequired("Write a short note for the clinician."),
            Length(max=1000, message="Please keep the note under 1,000 characters."),
        ],
        description="The patient's therapist is told and can read this conversation "
        "until they mark it handled. The patient does not see this note.",
    )


class HandledForm(PortalForm):
    note = TextAreaField(
        "What did you do?",
        validators=[
            DataRequired("Write what you did."),
            Length(max=1000, message="Please keep the note under 1,000 characters."),
        ],
    )


class ContactForm(PortalForm):
    contact_on = DateField(
        "Date",
        validators=[InputRequired("Enter the date of the contact."), date_in_range],
    )
    minutes = IntegerField(
        "Minutes",
        validators=[
            InputRequired("Enter how many minutes."),
            NumberRange(1, 480, message="Enter a number of minutes from 1 to 480."),
        ],
    )
    kind = RadioField(
        "How",
        choices=CONTACT_KINDS,
        validators=[InputRequired("Choose how you were in contact.")],
    )
    note = TextAreaField(
        "Note (optional)",
        validators=[
            Optional(),
            Length(max=2000, message="Keep it under 2,000 characters."),
        ],
    )


class AwayForm(PortalForm):
    status = RadioField(
        "Are you away?",
        choices=[("here", "I am here"), ("away", "I am away")],
        validators=[InputRequired("Choose here or away.")],
    )
    covering_id = SelectField(
        "Who covers your patients' messages?",
        validate_choice=False,
        description="If nobody is chosen, every peer specialist of your program sees "
        "your patients' messages.",
    )


class StartForm(PortalForm):
    patient_id = HiddenField(validators=[DataRequired()])


class SharingForm(PortalForm):
    """Only the CSRF token: the choices are the `share` checkboxes of the page."""


class PhrasesForm(PortalForm):
    phrases = TextAreaField(
        "Crisis phrases, one per line",
        validators=[Length(max=MAX_PHRASES * (MAX_PHRASE_LENGTH + 1))],
        description="A patient's message that contains any of these, as whole words, "
        "shows the patient crisis help, opens a safety alert and asks the "
        "therapist to look. Case and punctuation do not matter.",
        render_kw={"rows": 14},
    )

    def validate_phrases(self, field) -> None:
        lines = [line.strip() for line in (field.data or "").splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            raise ValidationError("Keep at least one phrase.")
        if len(lines) > MAX_PHRASES:
            raise ValidationError(f"Use at most {MAX_PHRASES} phrases.")
        long = next((line for line in lines if len(line) > MAX_PHRASE_LENGTH), None)
        if long:
            raise ValidationError(
                f"Keep each phrase under {MAX_PHRASE_LENGTH} characters."
            )
        if any(len(line) < 3 for line in lines):
            raise ValidationError("Each phrase needs at least 3 characters.")
