"""The years the portal reads from a person or a client: 1900 to 2999. Python's
calendar runs from year 1 to 9999, so a week, a day or a time zone added to a date at
either end fails; nothing the portal keeps comes near either end."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError

FIRST_YEAR, LAST_YEAR = 1900, 2999
OUT_OF_RANGE = _l(
    "Choose a date from %(first)s to %(last)s.", first=FIRST_YEAR, last=LAST_YEAR
)


def in_range(day: date) -> bool:
    return FIRST_YEAR <= day.year <= LAST_YEAR


def date_in_range(_form, field) -> None:
    """A form's date that every page can still show once it is saved."""
    if field.data is not None and not in_range(field.data):
        raise ValidationError(str(OUT_OF_RANGE))
