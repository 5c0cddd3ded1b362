"""Patients read the portal in English or Spanish (Flask-Babel).

The language of a page: a signed-in patient's choice kept on their account; before
they choose (or signed out), the choice kept in the `lang` cookie, then the browser's
Accept-Language; English otherwise. Staff pages stay English. The catalog is
`portal/translations/es/LC_MESSAGES/messages.po` (see docs/languages.md).
"""

from __future__ import annotations

from datetime import date, datetime, time

from babel.dates import parse_pattern
from flask import Flask, has_request_context, request, session
from flask_babel import Babel, get_locale
from flask_login import current_user

# The languages a patient can choose, each named in itself.
LANGUAGES = {"en": "English", "es": "Español"}
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "lang"

babel = Babel()


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_language, default_timezone="UTC")
    app.jinja_env.filters["when"] = when
    app.jinja_env.globals["page_language"] = page_language


def select_language() -> str:
    """The page's language: the account's choice wins once made. Outside a request
    (the worker, the shell) English, unless the caller forces the recipient's
    language with `flask_babel.force_locale`."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    user = _signed_in_user()
    if user is not None:
        if user.is_staff:
            return DEFAULT_LANGUAGE
        if user.preferred_language in LANGUAGES:
            return user.preferred_language
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def page_language() -> str:
    """The language this page is in, for <html lang> and the language switch."""
    language = get_locale()
    return language.language if language is not None else DEFAULT_LANGUAGE


def known_language(code: str | None) -> str:
    """A language we have, or English: an unknown one is never an error."""
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def _signed_in_user():
    # A page answering while the database is down reads no user: the cookie and
    # the browser decide.
    if getattr(session, "database_down", False):
        return None
    return current_user if current_user.is_authenticated else None


# The shapes of dates and times the patient pages use. English keeps the portal's own
# words ("Monday, December 7", "9:00 AM"); Spanish uses CLDR's through Babel
# ("lunes, 7 de diciembre", "9:00 a. m."). Values are already in the program's time.
STYLES = {
    "day": ("%A, %B %-d", "EEEE, d 'de' MMMM"),
    "full_day": ("%A, %B %-d, %Y", "EEEE, d 'de' MMMM 'de' y"),
    "weekday": ("%A", "EEEE"),
    "short_day": ("%a %b %-d", "EEE d 'de' MMM"),
    "date": ("%b %-d, %Y", "d 'de' MMM 'de' y"),
    "short_date": ("%b %-d", "d 'de' MMM"),
    "month_day": ("%B %-d", "d 'de' MMMM"),
    "time": ("%-I:%M %p", "h:mm a"),
    "date_time": ("%b %-d, %Y %-I:%M %p", "d 'de' MMM 'de' y, h:mm a"),
    "day_time": ("%a %b %-d at %-I:%M %p", "EEE d 'de' MMM, h:mm a"),
    "weekday_time": ("%A at %-I:%M %p", "EEEE, h:mm a"),
    "long_day_time": ("%A, %B %-d at %-I:%M %p", "EEEE, d 'de' MMMM, h:mm a"),
    "clock": ("%-I:%M", "h:mm"),
    "weekday_clock": ("%A %-I:%M %p", "EEEE h:mm a"),
    "day_label": ("%a %-d %b", "EEE d 'de' MMM"),
    "short_day_time": ("%a %b %-d, %-I:%M %p", "EEE d 'de' MMM, h:mm a"),
    "hour": ("%-I %p", "h a"),
    "weekday_date": ("%A, %b %-d", "EEEE, d 'de' MMM"),
    # messages and the patient's record
    "short_date_time": ("%b %-d, %-I:%M %p", "d 'de' MMM, h:mm a"),
    "long_date": ("%B %-d, %Y", "d 'de' MMMM 'de' y"),
    "long_date_time": ("%B %-d, %Y at %-I:%M %p", "d 'de' MMMM 'de' y, h:mm a"),
    "date_at_time": ("%b %-d, %Y at %-I:%M %p", "d 'de' MMM 'de' y, h:mm a"),
}


def when(value: date | time | datetime, style: str) -> str:
    """A date or time in the page's language, in one of STYLES' shapes."""
    english, cldr = STYLES[style]
    language = get_locale()
    if language is None or language.language == DEFAULT_LANGUAGE:
        return value.strftime(english)
    return parse_pattern(cldr).apply(value, language)
