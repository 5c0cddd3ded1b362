"""What every figure of the director's board is made of: the Figure (title, note,
table, charts, CSV), shares that read "n of N" under SMALL patients, and the labels
and chart helpers the builders share."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from markupsafe import Markup

from portal.blueprints.checkins.instruments import Instrument
from portal.blueprints.needs.models import NeedKind
from portal.blueprints.staff.board import Period
from portal.charts import Series

SMALL = 10
NONE = "none"
KIND_NAMES = {
    NeedKind.TRANSPORT: "Rides",
    NeedKind.HOUSING: "Housing",
    NeedKind.OTHER: "Other",
}
INSTRUMENT_NAMES = {Instrument.PHQ9: "PHQ-9", Instrument.GAD7: "GAD-7"}


@dataclass
class Figure:
    key: str
    title: str
    about: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    charts: list[Markup] = field(default_factory=list)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue()


def share(part: int, whole: int, patients: int | None = None) -> str:
    """ "45%", or "4 of 9" when fewer than SMALL patients are behind it."""
    if not whole:
        return NONE
    if (whole if patients is None else patients) < SMALL:
        return f"{part} of {whole}"
    return f"{round(100 * part / whole)}%"


def percent(part: int, whole: int, patients: int | None = None) -> float | None:
    """The share for a chart: None (a gap) where the table says "n of N"."""
    if not whole or (whole if patients is None else patients) < SMALL:
        return None
    return 100 * part / whole


def number(value: float | None) -> str:
    return NONE if value is None else f"{float(value):.1f}"


def week_label(period: Period, week_no: int) -> str:
    return f"{period.week_start(week_no):%b %-d, %Y}"


def short_label(period: Period, week_no: int) -> str:
    return f"{period.week_start(week_no):%b %-d}"


def hours_of(row, name: str) -> float | None:
    return None if row is None else getattr(row, name)


def axis_top(values: list[float]) -> float:
    """A round top for the y axis, at least the largest value."""
    largest = max([float(v) for v in values] or [0])
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if largest <= step * 4:
            return step * 4 if largest > step * 2 else step * 2
    return largest


def gap_note(series: list[Series], unit: str, what: str = "week") -> str:
    parts = []
    for s in series:
        shown = [v for v in s.values if v is not None]
        if shown:
            parts.append(f"{s.name}: latest {shown[-1]:.0f}{unit}")
        else:
            parts.append(f"{s.name}: too few patients to show")
    return (
        "; ".join(parts)
        + f". A {what} with fewer than {SMALL} patients is left out; the table shows "
        "it as a count."
    )
