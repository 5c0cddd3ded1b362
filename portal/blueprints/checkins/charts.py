"""Small SVG line charts drawn on the server (no chart library in the browser). Each has
a title and a description; the page shows the same numbers as a table."""

from __future__ import annotations

from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_X, PAD_Y = 320, 120, 30, 14


def line_chart(
    chart_id: str,
    title: str,
    points: list[tuple[date, float]],
    y_max: float,
    bands: tuple[float, ...] = (),
) -> Markup:
    """A line over time; `points` are (day, value) oldest first; y from 0 to y_max."""
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
    desc = (
        f"{len(points)} values from {first:%b %-d} to {last:%b %-d}; latest "
        f"{_number(points[-1][1])} of {_number(y_max)}."
    )
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
        f'<text x="{PAD_X}" y="{HEIGHT - 1}">{first:%b %-d}</text>'
        f'<text x="{WIDTH - 8}" y="{HEIGHT - 1}" text-anchor="end">{last:%b %-d}</text>'
        f'<polyline points="{coords}"/>{dots}</svg>'
    )
    return Markup(svg)  # noqa: S704 - built from numbers and escaped text only


def _number(value: float) -> str:
    return f"{float(value):g}"
