"""Search parameters: patient, date and _lastUpdated (with FHIR prefixes), _count and
paging. Anything else is refused with a reason rather than silently ignored."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from portal.blueprints.record.sources import Window

DEFAULT_COUNT = 50
MAX_COUNT = 200
DATE_RE = re.compile(
    r"^(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
SUPPORTED_PREFIXES = {"eq", "gt", "lt", "ge", "le", "sa", "eb"}


class SearchError(ValueError):
    """A parameter the server cannot honour; the message says which and why."""


@dataclass(frozen=True)
class SearchParams:
    patient_id: str | None = None
    ids: tuple[str, ...] = ()
    dates: Window | None = None
    updated: Window | None = None
    count: int = DEFAULT_COUNT
    offset: int = 0


def parse_search(args, allowed: set[str]) -> SearchParams:
    """Read a search's query string; `allowed` names the parameters of this type."""
    unknown = sorted(set(args) - allowed - {"_count", "_offset", "_format"})
    if unknown:
        raise SearchError(f"Search parameter not supported here: {unknown[0]}")
    _check_format(args.get("_format"))
    patient = _patient_param(args)
    return SearchParams(
        patient_id=patient,
        ids=tuple(i for value in args.getlist("_id") for i in value.split(",") if i),
        dates=_windows(args.getlist("date")),
        updated=_windows(args.getlist("_lastUpdated")),
        count=_bounded_int(args.get("_count"), DEFAULT_COUNT, 0, MAX_COUNT, "_count"),
        offset=_bounded_int(args.get("_offset"), 0, 0, 100_000, "_offset"),
    )


def _check_format(value: str | None) -> None:
    if value and value not in ("json", "application/json", "application/fhir+json"):
        raise SearchError("Only JSON is served (_format=json).")


def _patient_param(args) -> str | None:
    values = args.getlist("patient") + args.getlist("subject")
    if not values:
        return None
    if len(values) > 1:
        raise SearchError("Give one patient per search.")
    value = values[0].removeprefix("Patient/")
    if "/" in value or not value:
        raise SearchError("patient must be a Patient id or Patient/[id].")
    return value


def _bounded_int(raw, default: int, low: int, high: int, name: str) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SearchError(f"{name} must be a whole number.") from None
    if not low <= value <= high:
        raise SearchError(f"{name} must be between {low} and {high}.")
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
        raise SearchError(f"Not a FHIR date: {value!r}")
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
        raise SearchError("Not a real date.") from None
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
