"""Small SVG charts drawn on the server (no chart library in the browser). Each has a
title and a description for screen readers; the page shows the same numbers as a
table. Series differ by line style and marker shape, not by colour alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext, ngettext
from markupsafe import Markup, escape

from portal.i18n import when

WIDTH, HEIGHT, PAD_X, PAD_Y = 320, 120, 30, 14


def line_chart(
    chart_id: str,
    title: str,
    points: list[tuple[date, float]],
    y_max: float,
    bands: tuple[float, ...] = (),
    *,
    named_bands: tuple[tuple[float, float, str], ...] = (),
    better: str = "",
) -> Markup:
    """A line over time; `points` are (day, value) oldest first; y from 0 to y_max.
    `bands` draw dashed lines at those values; `named_bands` (low, high, name) write
    each band's name at its right edge and in the description; `better` says which
    way is better ("Lower is better.")."""
    if not points:
        return Markup("")
    first, last = points[0][0], points[-1][0]
    span = max(1, (last - first).days)

    def x(day: date) -> float:
        return PAD_X + (WIDTH - PAD_X - 8) * ((day - first).days / span)

    def y(value: float) -> float:
        return HEIGHT - PAD_Y - (HEIGHT - 2 * PAD_Y) * (float(value) / y_max)

    coords = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in points)
    dots = "".join(
        f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="3"/>' for d, v in points
    )
    grid = "".join(
        f'<line class="band" x1="{PAD_X}" x2="{WIDTH - 8}" y1="{y(b):.1f}" '
        f'y2="{y(b):.1f}"/>'
        for b in bands
    )
    names = "".join(
        f'<text class="band-name" x="{WIDTH - 10}" '
        f'y="{(y(low) + y(min(high + 1, y_max))) / 2 + 3:.1f}" text-anchor="end">'
        f"{escape(name)}</text>"
        for low, high, name in named_bands
    )
    first_day, last_day = when(first, "short_date"), when(last, "short_date")
    sentences = [
        ngettext(
            "%(num)s value from %(first)s to %(last)s; latest %(latest)s of %(max)s.",
            "%(num)s values from %(first)s to %(last)s; latest %(latest)s of %(max)s.",
            len(points),
            first=first_day,
            last=last_day,
            latest=_number(points[-1][1]),
            max=_number(y_max),
        )
    ]
    if better:
        sentences.append(better)
    if named_bands:
        bands_said = "; ".join(
            gettext(
                "%(low)s to %(high)s %(name)s",
                low=_number(low),
                high=_number(high),
                name=name.lower(),
            )
            for low, high, name in named_bands
        )
        sentences.append(gettext("Bands: %(bands)s.", bands=bands_said))
    desc = " ".join(sentences)
    svg = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" focusable="false">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>'
        f'<line class="axis" x1="{PAD_X}" x2="{PAD_X}" y1="{PAD_Y}" '
        f'y2="{HEIGHT - PAD_Y}"/>'
        f'<line class="axis" x1="{PAD_X}" x2="{WIDTH - 8}" y1="{HEIGHT - PAD_Y}" '
        f'y2="{HEIGHT - PAD_Y}"/>{grid}'
        f'<text x="{PAD_X - 4}" y="{PAD_Y + 4}" text-anchor="end">'
        f"{_number(y_max)}</text>"
        f'<text x="{PAD_X - 4}" y="{HEIGHT - PAD_Y}" text-anchor="end">0</text>'
        f'<text x="{PAD_X}" y="{HEIGHT - 1}">{escape(first_day)}</text>'
        f'<text x="{WIDTH - 8}" y="{HEIGHT - 1}" text-anchor="end">'
        f"{escape(last_day)}</text>"
        f'{names}<polyline points="{coords}"/>{dots}</svg>'
    )
    return Markup(svg)  # noqa: S704 - built from numbers and escaped text only


def _number(value: float) -> str:
    return f"{float(value):g}"


# ---- several series over the same labels (weeks, kinds) ------------------------------


@dataclass(frozen=True)
class Series:
    """One named line or set of bars; None is a gap (nothing to show there)."""

    name: str
    values: list[float | None]


BOX_W, BOX_H, LEFT, RIGHT, TOP, BOTTOM, LEGEND_ROW = 640, 220, 44, 12, 12, 34, 18
MARKERS = ("circle", "square", "triangle", "diamond")


def series_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: list[str],
    series: list[Series],
    y_max: float,
    *,
    bars: bool = False,
    unit: str = "",
) -> Markup:
    """Lines (or grouped bars) of several series over the same labels, y from 0 to
    y_max, with a legend; `desc` says in words what the picture shows."""
    if not labels or not series:
        return Markup("")
    y_max = y_max or 1
    height = BOX_H + LEGEND_ROW * len(series)
    plot_w, plot_h = BOX_W - LEFT - RIGHT, BOX_H - TOP - BOTTOM
    slot = plot_w / len(labels)

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * min(float(value), y_max) / y_max

    draw = _bars if bars else _lines
    body = "".join(
        draw(n, s, slot, y, len(series)) for n, s in enumerate(series) if s.values
    )
    svg = (
        f'<svg class="chart chart-wide" viewBox="0 0 {BOX_W} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" focusable="false">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>'
        f"{_axes(labels, slot, y_max, unit)}{body}{_legend(series, bars)}</svg>"
    )
    return Markup(svg)  # noqa: S704 - built from numbers and escaped text only


def _axes(labels: list[str], slot: float, y_max: float, unit: str) -> str:
    bottom = TOP + BOX_H - TOP - BOTTOM
    right = BOX_W - RIGHT
    half = f"{_number(y_max / 2)}{unit}"
    middle = TOP + (bottom - TOP) / 2
    ticks = {0, len(labels) - 1, (len(labels) - 1) // 2}
    names = "".join(
        f'<text x="{LEFT + slot * (i + 0.5):.1f}" y="{bottom + 16}" '
        f'text-anchor="middle">{escape(labels[i])}</text>'
        for i in sorted(ticks)
    )
    return (
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{bottom}"/>'
        f'<line class="axis" x1="{LEFT}" x2="{right}" y1="{bottom}" y2="{bottom}"/>'
        f'<line class="band" x1="{LEFT}" x2="{right}" y1="{middle:.1f}" '
        f'y2="{middle:.1f}"/>'
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">'
        f"{_number(y_max)}{unit}</text>"
        f'<text x="{LEFT - 4}" y="{middle + 4:.1f}" text-anchor="end">{half}</text>'
        f'<text x="{LEFT - 4}" y="{bottom}" text-anchor="end">0</text>{names}'
    )


def _lines(index: int, series: Series, slot: float, y, _count: int) -> str:
    points = [
        (LEFT + slot * (i + 0.5), y(v))
        for i, v in enumerate(series.values)
        if v is not None
    ]
    runs, run = [], []
    for i, value in enumerate(series.values):
        if value is None:
            if run:
                runs.append(run)
            run = []
            continue
        run.append(f"{LEFT + slot * (i + 0.5):.1f},{y(value):.1f}")
    if run:
        runs.append(run)
    lines = "".join(f'<polyline points="{" ".join(r)}"/>' for r in runs if len(r) > 1)
    marks = "".join(_marker(index, px, py) for px, py in points)
    return f'<g class="s{index % len(MARKERS)}">{lines}{marks}</g>'


def _bars(index: int, series: Series, slot: float, y, count: int) -> str:
    width = slot * 0.8 / count
    bottom = TOP + BOX_H - TOP - BOTTOM
    rects = "".join(
        f'<rect x="{LEFT + slot * (i + 0.1) + width * index:.1f}" '
        f'y="{y(v):.1f}" width="{width:.1f}" height="{bottom - y(v):.1f}"/>'
        for i, v in enumerate(series.values)
        if v is not None
    )
    return f'<g class="s{index % len(MARKERS)} bars">{rects}</g>'


def _marker(index: int, x: float, y: float) -> str:
    shape = MARKERS[index % len(MARKERS)]
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"/>'
    if shape == "square":
        return f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6"/>'
    if shape == "triangle":
        return (
            f'<polygon points="{x:.1f},{y - 4:.1f} {x - 4:.1f},{y + 3:.1f} '
            f'{x + 4:.1f},{y + 3:.1f}"/>'
        )
    return (
        f'<polygon points="{x:.1f},{y - 4:.1f} {x + 4:.1f},{y:.1f} '
        f'{x:.1f},{y + 4:.1f} {x - 4:.1f},{y:.1f}"/>'
    )


def _legend(series: list[Series], bars: bool) -> str:
    items = []
    for n, s in enumerate(series):
        top = BOX_H + LEGEND_ROW * n
        key = (
            f'<rect x="{LEFT}" y="{top - 4}" width="14" height="10"/>'
            if bars
            else f'<line x1="{LEFT}" x2="{LEFT + 18}" y1="{top + 1}" y2="{top + 1}"/>'
            f"{_marker(n, LEFT + 9, top + 1)}"
        )
        items.append(
            f'<g class="s{n % len(MARKERS)}{" bars" if bars else ""}">{key}</g>'
            f'<text x="{LEFT + 26}" y="{top + 5}">{escape(s.name)}</text>'
        )
    return "".join(items)
