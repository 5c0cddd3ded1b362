"""Hostile values for forms, query strings and ids: dates at the ends of the calendar,
numbers that overflow, odd Unicode, very long text, bad ids and enum values, and (in
their own strategy) control characters."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import strategies as st

# Tab, newline and carriage return are typed into text boxes every day; the other
# C0 and C1 controls and DEL are the "control characters" of issue item 2.
TYPED = "\t\n\r"
CONTROL = [
    chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if chr(c) not in TYPED
]

# Everything but control characters and lone surrogates (which no form can send).
_letters = st.characters(exclude_categories=("Cc", "Cs"), include_characters=TYPED)
odd_text = st.text(_letters, max_size=40)

NUMBER_SPECIALS = [
    "",
    " ",
    "0",
    "-0",
    "-1",
    "+7",
    "1.5",
    "0.05",
    "1e3",
    "1e309",
    "-1e309",
    "1e-400",
    "NaN",
    "nan",
    "sNaN",
    "-sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1_000",
    "0x10",
    "0b1",
    "²",
    "٣",
    "\uff11\uff12",  # full-width 12
    "\U0001d7d8",  # double-struck 0
    "Ⅻ",
    "½",
    str(2**31),
    str(2**63),
    str(-(2**63) - 1),
    str(2**64),
    "9" * 40,
    "9" * 5000,
]
DATE_SPECIALS = [
    "0001-01-01",
    "0001-01-02",
    "9999-12-31",
    "9999-12-25",
    "10000-01-01",
    "0000-00-00",
    "2026-02-30",
    "2026-13-01",
    "-2026-01-01",
    "2026-1-1",
    "20260101",
    "2026-W01-1",
    "2026-01-01T25:00",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00-14:00",
    "\uff11\uff19\uff19\uff19-\uff10\uff11-\uff10\uff11",  # full-width digits
]
TIME_SPECIALS = ["24:00", "99:99", "23:59:60", "-1:00", "00:00", "23:59", "1:2", "T"]
TEXT_SPECIALS = [
    "",
    " ",
    "   ",
    "\u202eevil",
    "\ufeff",
    "\u200b\u200d",
    "e\u0301\u0301\u0301",
    "\U0001f600" * 3,
    "\ufffd",
    "\uffff",
    "\U0010ffff",
    "../../etc/passwd",
    "%00",
    "%2e%2e%2f",
    "' OR 1=1 --",
    '"; DROP TABLE users; --',
    "<script>alert(1)</script>",
    "{{7*7}}",
    "${7*7}",
    "null",
    "None",
    "true",
    "[]",
    "{}",
    "a@b",
    "@",
    "x" * 65 + "@example.test",
    "00000000-0000-4000-8000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
]
SPECIALS = NUMBER_SPECIALS + DATE_SPECIALS + TIME_SPECIALS + TEXT_SPECIALS

numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
)
dates = st.dates().map(lambda d: d.isoformat())
# Within a few weeks of either end of Python's calendar, where a week or a time zone
# more or less no longer fits.
edge_dates = st.one_of(
    st.dates(date(1, 1, 1), date(1, 2, 1)), st.dates(date(9999, 12, 1), date.max)
).map(date.isoformat)
calendar = st.one_of(
    dates,
    st.datetimes().map(lambda d: d.isoformat()),
    st.times().map(lambda t: t.isoformat()),
)
ids = st.one_of(
    st.uuids().map(str),
    st.text("0123456789abcdef-", min_size=1, max_size=80),
    st.text(
        st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="/?#%"),
        min_size=1,
        max_size=40,
    ),
)


def _repeat(piece: str, times: int) -> str:
    return (piece or "x") * times


# Longer than any column (and, rarely, than the 256 KB a request may carry). Long
# Unicode stays shorter: percent-encoding it in the test client is what costs.
long_text = st.one_of(
    st.builds(
        _repeat,
        st.sampled_from(["x", "ab", "Zz9", "-_.", "w "]),
        st.sampled_from([101, 256, 1_001, 2_001, 5_001, 20_001, 70_001, 300_000]),
    ),
    st.builds(
        _repeat,
        st.text(_letters, min_size=1, max_size=3),
        st.sampled_from([101, 256, 1_001, 2_001]),
    ),
)

hostile = st.one_of(
    st.sampled_from(SPECIALS), odd_text, numbers, calendar, ids, long_text
)
_BY_KIND = {
    "number": st.one_of(st.sampled_from(NUMBER_SPECIALS), numbers),
    "date": st.one_of(st.sampled_from(DATE_SPECIALS), edge_dates, dates),
    "time": st.one_of(st.sampled_from(TIME_SPECIALS), st.times().map(str)),
    "choice": st.one_of(st.sampled_from(SPECIALS), odd_text, long_text),
    "email": st.one_of(st.sampled_from(TEXT_SPECIALS), odd_text, long_text),
    "text": st.one_of(st.sampled_from(TEXT_SPECIALS), odd_text, long_text),
}


# For the sweep: every field of a kind gets each of these once. Text runs past the
# longest column (String(1024)); a bad choice is what no select offers.
EDGES = {
    "number": [
        "",
        "-1",
        "1.5",
        "1e309",
        "NaN",
        "sNaN",
        "-Infinity",
        "\u00b2",
        "\uff11\uff12",
        str(2**31),
        str(2**63),
        str(2**64),
        "9" * 5000,
    ],
    "date": [*DATE_SPECIALS, "0001-01-07", "9999-12-27", "1899-12-31", "3000-01-01"],
    "time": TIME_SPECIALS,
    "choice": ["", "zz", "-1", "99", str(2**64), "\u00b2", "\U0001f600"],
    "email": ["", " ", "@", "x" * 1025, "a@b@c", "\u202e@example.test"],
    "text": ["", "   ", "x" * 1025, "\u20ac" * 1025, "\U0001f600" * 300, "\u202eevil"],
}
DEFAULTS = {
    "number": "1",
    "date": str(date.today() + timedelta(days=1)),
    "time": "10:00",
    "email": "someone@example.test",
    "choice": "y",
    "text": "Hello",
}


def for_kind(kind: str) -> st.SearchStrategy[str]:
    """Hostile values aimed at a field's kind, and now and then anything at all."""
    return mostly(_BY_KIND[kind], hostile, 2)


def with_control_character(base: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A value with at least one control character somewhere in it; half the time
    NUL, which PostgreSQL cannot store in text."""
    return st.builds(
        lambda value, where, control: value[:where] + control + value[where:],
        base,
        st.integers(0, 40),
        mostly(st.just("\x00"), st.sampled_from(CONTROL), 1),
    )


_PLAUSIBLE = {
    "number": st.integers(0, 30).map(str),
    "date": st.integers(-7, 62).map(lambda n: str(date.today() + timedelta(n))),
    "time": st.times().map(lambda t: t.strftime("%H:%M")),
    "email": st.just("someone@example.test"),
    "choice": st.just("y"),
    "text": st.text(_letters, min_size=1, max_size=60),
}


def plausible(offered, kind: str = "text") -> st.SearchStrategy[str]:
    """What the page offers, or what a person might type: validation goes deep."""
    filled = sorted(v for v in offered if v)  # an empty input offers ""
    if not filled:
        return _PLAUSIBLE[kind]
    if kind == "text":
        return mostly(st.sampled_from(filled), _PLAUSIBLE[kind], 1)
    return st.sampled_from(filled)


def spoiled(offered, kind: str = "text") -> st.SearchStrategy[str]:
    """A hostile value for the field's kind, or another field's offer."""
    return mostly(for_kind(kind), st.sampled_from(sorted(offered) or [""]), 5)


def value_for(offered, kind: str = "text", control: bool = False):
    """What the page offers or a hostile value for the field's kind; with `control`,
    every value carries a control character."""
    value = st.one_of(plausible(offered, kind), spoiled(offered, kind))
    return with_control_character(value) if control else value


def in_url(base: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Values for a URL's path or query: not form text (issue item 2), so whatever
    reads them must cope with a control character itself."""
    return mostly(base, with_control_character(st.one_of(ids, odd_text)), 7)


def mostly(usual: st.SearchStrategy, rare: st.SearchStrategy, odds: int = 3):
    """`usual` about `odds` times out of `odds + 1`, else `rare`. (Hypothesis tries
    every value of a small integer range about as often, whatever the range; a
    fraction keeps the odds.)"""
    cut = odds / (odds + 1)
    return st.floats(0, 1).flatmap(lambda p: rare if p > cut else usual)
