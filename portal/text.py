"""Text as people type it: line breaks made uniform, and the characters removed that
no one means to type but that break storage or disguise what is shown (control
characters, which PostgreSQL refuses in text; bidirectional overrides; zero-width
characters). Applied to every form field by `portal.forms.PortalForm`. And a day as
people read it in lists."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

_HIDDEN = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]"
)


def remove_hidden_characters(raw: str) -> str:
    """Uniform line breaks and no control or invisible characters; tabs are kept."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    return _HIDDEN.sub("", text)


# A phone number as people write one: 7 to 15 digits, with spaces, dots, dashes or
# brackets between them and an optional leading +; and 911 and 988 themselves.
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_PHONE = re.compile(r"(?<![\w+(])(?:[+(]?\d[\d ().-]{5,18}\d|911|988)(?!\w)")
_SHORT_LINES = {"911", "988"}


def link_phone_numbers(text: str) -> Markup:
    """The text escaped, with each phone number made a tap-to-call link."""
    pieces: list[str] = []
    position = 0
    for match in _PHONE.finditer(text):
        digits = re.sub(r"[^\d+]", "", match.group(0))
        length_ok = 7 <= len(digits.lstrip("+")) <= 15 or digits in _SHORT_LINES
        if not length_ok or _DATE.fullmatch(match.group(0)):
            continue
        pieces.append(escape(text[position : match.start()]))
        pieces.append(Markup('<a href="tel:{}">{}</a>').format(digits, match.group(0)))
        position = match.end()
    pieces.append(escape(text[position:]))
    return Markup("").join(pieces)


def local_day_label(moment: datetime, tz: str | ZoneInfo) -> str:
    """The day of a moment in a program's time zone, short: "Tue 3 Dec"."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return f"{moment.astimezone(zone):%a %-d %b}"
