"""Forms on the schedule: telling the program "I'll be late" or "I can't come today",
asking to change an appointment, and staff's answer."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, RadioField, TextAreaField, TimeField
from wtforms.validators import InputRequired, Length, Optional

from portal.blueprints.schedule.notices import KIND_WORDS, REASON_WORDS
from portal.dates import date_in_range
from portal.forms import PortalForm

NOTE_LENGTH = 300
_NOTE = [
    Optional(),
    Length(max=NOTE_LENGTH, message=_l("Please keep it under 300 letters.")),
]


class NoticeForm(PortalForm):
    kind = RadioField(
        _l("What do you want to tell us?"),
        choices=[(k.value, words) for k, words in KIND_WORDS.items()],
        validators=[InputRequired(_l("Choose one."))],
    )
    reason = RadioField(
        _l("Why?"),
        choices=[(r.value, words) for r, words in REASON_WORDS.items()],
        validators=[InputRequired(_l("Choose a reason."))],
    )
    note = TextAreaField(_l("Anything else? (optional)"), validators=_NOTE)


class ChangeForm(PortalForm):
    """The patient asks for another time."""

    wanted_date = DateField(
        _l("What day would suit you?"),
        validators=[InputRequired(_l("Choose a day.")), date_in_range],
    )
    wanted_time = TimeField(
        _l("What time?"), validators=[InputRequired(_l("Choose a time, like 2:30 PM."))]
    )
    note = TextAreaField(_l("Anything else? (optional)"), validators=_NOTE)


class ApproveForm(PortalForm):
    # an id of its own: the offer form beside it has a note too
    note = TextAreaField(
        "Note for the patient (optional)", id="approve-note", validators=_NOTE
    )


class OfferForm(PortalForm):
    new_date = DateField(
        "Day you offer",
        validators=[InputRequired("Choose a day."), date_in_range],
    )
    new_time = TimeField("Time", validators=[InputRequired("Choose a time.")])
    note = TextAreaField("Note for the patient (optional)", validators=_NOTE)
