"""Phone numbers checked with libphonenumber (the `phonenumbers` package): a real
number, kept in E.164 (+12125550188), and whether it can be a mobile phone.

A number typed without a country code is read as a US number."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

DEFAULT_REGION = "US"

INVALID = (
    "That is not a phone number we can use. Enter it like (212) 555-0188, or with "
    "the country code, like +34 612 345 678."
)
NOT_MOBILE = (
    "That number is a landline or a service number, so it cannot get text "
    "messages. Enter a mobile phone number."
)

# Types that are known not to reach a mobile phone. FIXED_LINE_OR_MOBILE (all of the
# US and Canada), VOIP, personal numbers and UNKNOWN may be one, so they are kept.
NOT_MOBILE_TYPES = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.TOLL_FREE,
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.SHARED_COST,
        PhoneNumberType.UAN,
        PhoneNumberType.VOICEMAIL,
        PhoneNumberType.PAGER,
    }
)


class PhoneError(ValueError):
    """A number that cannot be used; the message says why in plain words."""


def _parse(text: str) -> phonenumbers.PhoneNumber:
    try:
        number = phonenumbers.parse(text.strip(), DEFAULT_REGION)
    except NumberParseException as error:
        raise PhoneError(INVALID) from error
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(INVALID)
    return number


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def any_phone(text: str) -> str:
    """A valid number of any kind (an emergency contact's landline will do), in
    E.164; PhoneError otherwise."""
    return _e164(_parse(text))


def mobile_phone(text: str) -> str:
    """A valid number that can be a mobile phone, in E.164; PhoneError otherwise."""
    number = _parse(text)
    if phonenumbers.number_type(number) in NOT_MOBILE_TYPES:
        raise PhoneError(NOT_MOBILE)
    return _e164(number)


def sign_in_phone(text: str) -> str | None:
    """The E.164 form of what someone typed to sign in, or None when it is not a
    phone number (then it is read as an email)."""
    if "@" in text:
        return None
    try:
        return _e164(_parse(text))
    except PhoneError:
        return None


def shown(e164: str | None) -> str:
    """A stored number as people read it: national for US numbers, else
    international."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, DEFAULT_REGION)
    except NumberParseException:
        return e164
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == 1
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, fmt)
