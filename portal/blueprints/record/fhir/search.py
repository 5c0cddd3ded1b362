"""Search parameters: patient or subject, date and _lastUpdated (with FHIR prefixes),
tokens (code, category, status, questionnaire), _sort, _summary=count, _count and
keyset paging. A parameter the server does not know is ignored and reported, as the
specification says servers should by default; with `Prefer: handling=strict` it is
refused with 400."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from portal.blueprints.record.sources import Window
from portal.dates import FIRST_YEAR, LAST_YEAR

DEFAULT_COUNT = 50
MAX_COUNT = 200
DATE_RE = re.compile(
    r"^(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
SUPPORTED_PREFIXES = {"eq", "gt", "lt", "ge", "le", "sa", "eb"}
MAX_IDS = 100
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class SearchError(ValueError):
    """A parameter the server cannot honour; the message says which and why, and
    `code` is the OperationOutcome issue type."""

    def __init__(self, message: str, code: str = "not-supported"):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Token:
    """One value of a token parameter: `system|code`, `code` (system None: any),
    `system|` (code None: any) or `|code` (system "": none)."""

    system: str | None
    code: str | None

    def matches(self, system: str | None, code: str) -> bool:
        if self.code is not None and self.code != code:
            return False
        if self.system is None:
            return True
        return self.system == (system or "")


@dataclass(frozen=True)
class Cursor:
    """Where the last page ended: the sort's clinical time, the source's rank and the
    row's id. The next page starts after it, so rows added meanwhile never shift it."""

    when: datetime
    rank: int
    row_id: str


@dataclass(frozen=True)
class SearchParams:
    patient_id: str | None = None
    ids: tuple[str, ...] | None = None  # None: any id
    dates: Window | None = None
    updated: Window | None = None
    count: int = DEFAULT_COUNT
    offset: int = 0
    # (name, alternatives) per occurrence: alternatives OR, occurrences AND.
    tokens: tuple[tuple[str, tuple[Token, ...]], ...] = ()
    ascending: bool = False
    summary_count: bool = False
    cursor: Cursor | None = None
    ignored: tuple[str, ...] = ()


CONTROL = {"_count", "_format", "_sort", "_summary"}
SORTS = {"date": True, "-date": False}
SUMMARIES = {"count", "false"}


def parse_search(
    args,
    allowed: set[str],
    *,
    tokens: set[str] = frozenset(),
    paging: str = "_cursor",
    strict: bool = False,
) -> SearchParams:
    """Read a search's query string; `allowed` and `tokens` name the parameters of
    this type, `paging` the one that pages (`_cursor`, or `_offset` for short lists)."""
    ignored = _ignored(args, allowed | tokens | CONTROL | {paging})
    if ignored and strict:
        raise SearchError(f"Search parameter not supported here: {ignored[0]}")
    patient = _patient_param(args, allowed)
    count = _bounded_int(args.get("_count"), DEFAULT_COUNT, 0, MAX_COUNT, "_count")
    return SearchParams(
        patient_id=patient,
        ids=_ids(args.getlist("_id")),
        dates=_windows(args.getlist("date")),
        updated=_windows(args.getlist("_lastUpdated")),
        count=count,
        offset=_bounded_int(args.get("_offset"), 0, 0, 100_000, "_offset")
        if paging == "_offset"
        else 0,
        tokens=tuple(
            (name, alternatives)
            for name in sorted(tokens)
            for value in args.getlist(name)
            if (alternatives := _token_values(name, value))
        ),
        ascending=SORTS.get(args.get("_sort", "-date"), False),
        summary_count=args.get("_summary") == "count",
        cursor=_cursor(args.get("_cursor")) if paging == "_cursor" else None,
        ignored=tuple(ignored),
    )


def _ignored(args, known: set[str]) -> list[str]:
    """Unknown names, and _sort or _summary values this server cannot honour."""
    names = sorted(set(args) - known)
    if args.get("_sort", "-date") not in SORTS:
        names.append("_sort")
    if args.get("_summary", "false") not in SUMMARIES:
        names.append("_summary")
    return names


def _token_values(name: str, value: str) -> tuple[Token, ...]:
    """A token parameter's comma-separated alternatives; a reference-typed one (the
    questionnaire's canonical) is matched whole, without its |version."""
    tokens = []
    for part in value.split(","):
        if not part:
            continue
        if name == "questionnaire":
            tokens.append(Token(None, part.split("|", 1)[0]))
        elif "|" in part:
            system, code = part.split("|", 1)
            tokens.append(Token(system, code or None))
        else:
            tokens.append(Token(None, part))
    return tuple(tokens)


def _fernet() -> Fernet:
    secret = f"fhir-cursor:{current_app.config['SECRET_KEY']}".encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret).digest()))


def cursor_token(cursor: Cursor) -> str:
    """Encrypted and authenticated: a next link shows no record's time or id (URLs
    reach access logs) and cannot be edited into another position."""
    plain = json.dumps([cursor.when.isoformat(), cursor.rank, cursor.row_id])
    return _fernet().encrypt(plain.encode()).decode()


def _cursor(raw: str | None) -> Cursor | None:
    if not raw:
        return None
    try:
        when, rank, row_id = json.loads(_fernet().decrypt(raw.encode()))
        return Cursor(datetime.fromisoformat(when), int(rank), str(row_id))
    except (InvalidToken, ValueError, TypeError):
        raise SearchError("_cursor is not one this server gave out.", "value") from None


def _patient_param(args, allowed: set[str]) -> str | None:
    values = [
        value
        for name in ("patient", "subject")
        if name in allowed
        for value in args.getlist(name)
    ]
    if not values:
        return None
    if len(values) > 1:
        raise SearchError("Give one patient per search.")
    value = values[0].removeprefix("Patient/")
    if "/" in value or not value:
        raise SearchError("patient must be a Patient id or Patient/[id].")
    return value


def _ids(values: list[str]) -> tuple[str, ...] | None:
    ids = tuple(i for value in values for i in value.split(",") if i)
    if not ids:
        return None  # an empty parameter is ignored
    if len(ids) > MAX_IDS:
        raise SearchError(f"Give at most {MAX_IDS} values of _id.", "too-costly")
    for value in ids:
        if not FHIR_ID.fullmatch(value):
            raise SearchError(f"Not a FHIR id in _id: {value[:64]!r}", "value")
    return ids


def _bounded_int(raw, default: int, low: int, high: int, name: str) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SearchError(f"{name} must be a whole number.", "value") from None
    if not low <= value <= high:
        raise SearchError(f"{name} must be between {low} and {high}.", "value")
    return value


def _windows(values: list[str]) -> Window | None:
    """Several date parameters narrow one another (date=ge2026-01-01&date=lt2026-02)."""
    window = None
    for value in values:
        one = date_window(value)
        window = one if window is None else window.narrow(one)
    return window


def date_window(value: str) -> Window:
    """The instants a FHIR date parameter selects, as a half-open UTC window."""
    match = DATE_RE.match(value.strip())
    if not match:
        raise SearchError(f"Not a FHIR date: {value[:64]!r}", "value")
    prefix = match["prefix"] or "eq"
    if prefix not in SUPPORTED_PREFIXES:
        raise SearchError(f"The date prefix {prefix!r} is not supported.")
    start, end = _value_range(match)
    return {
        "eq": Window(start, end),
        "ge": Window(start, None),
        "gt": Window(end, None),
        "sa": Window(end, None),
        "le": Window(None, end),
        "lt": Window(None, start),
        "eb": Window(None, start),
    }[prefix]


def _value_range(match) -> tuple[datetime, datetime]:
    """The value's own range: a year, a month, a day or (to the second) an instant."""
    year = int(match["year"])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise SearchError(
            f"Dates must be in the years {FIRST_YEAR} to {LAST_YEAR}.", "value"
        )
    try:
        if match["month"] is None:
            return _utc(year, 1, 1), _utc(year + 1, 1, 1)
        month = int(match["month"])
        if match["day"] is None:
            following = (
                _utc(year + 1, 1, 1) if month == 12 else _utc(year, month + 1, 1)
            )
            return _utc(year, month, 1), following
        start = _utc(year, month, int(match["day"]))
        if match["time"] is None:
            return start, start + timedelta(days=1)
        moment = datetime.fromisoformat(
            f"{match['year']}-{match['month']}-{match['day']}T{match['time']}"
            f"{(match['tz'] or 'Z').replace('Z', '+00:00')}"
        ).astimezone(UTC)
    except ValueError:
        raise SearchError("Not a real date.", "value") from None
    precision = (
        timedelta(seconds=1) if match["time"].count(":") >= 2 else timedelta(minutes=1)
    )
    return moment, moment + precision


def _utc(year: int, month: int, day_of_month: int) -> datetime:
    return datetime.combine(date(year, month, day_of_month), datetime.min.time(), UTC)


def parse_instant(value: str, name: str) -> datetime:
    """An instant parameter such as $everything's _since."""
    window = date_window(value)
    if window.low is None:
        raise SearchError(f"{name} takes a date or an instant, without a prefix.")
    return window.low
