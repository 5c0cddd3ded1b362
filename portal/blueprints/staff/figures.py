"""The director's board as figures: each a title, a note on how it is counted, a table
and its charts. The table's cells are the CSV's cells, so every number on the page
can be checked from the download. A share on fewer than SMALL patients reads "n of N",
never a bare percentage, and is left out of the charts. The builders are in
figures_people, figures_care and figures_services, what they share in figure_parts;
this module is what the page and the downloads use."""

from __future__ import annotations

from collections.abc import Callable

from portal.blueprints.staff.board import Board, Period, Scope
from portal.blueprints.staff.figure_parts import Figure
from portal.blueprints.staff.figures_care import outcomes, safety
from portal.blueprints.staff.figures_people import attendance, census, checkins, stay
from portal.blueprints.staff.figures_services import (
    caseload,
    peer,
    request_weeks,
    requests,
)

BUILDERS: dict[str, Callable[[Board], Figure]] = {
    "census": census,
    "stay": stay,
    "attendance": attendance,
    "checkins": checkins,
    "safety": safety,
    "outcomes": outcomes,
    "requests": requests,
    "request_weeks": request_weeks,
    "caseload": caseload,
    "peer": peer,
}
# The page's sections, each with the figures it shows.
SECTIONS = (
    ("People", ("census", "stay")),
    ("Attendance", ("attendance",)),
    ("Check-ins", ("checkins",)),
    ("Safety", ("safety",)),
    ("Outcomes", ("outcomes",)),
    ("Requests", ("requests", "request_weeks", "caseload")),
    ("Peer support", ("peer",)),
)


def whole_board(scope: Scope, period: Period) -> list[tuple[str, list[Figure]]]:
    """Every figure; a statement two figures share runs once."""
    board = Board(scope, period)
    return [
        (heading, [BUILDERS[key](board) for key in keys]) for heading, keys in SECTIONS
    ]


def one_figure(scope: Scope, period: Period, key: str) -> Figure:
    return BUILDERS[key](Board(scope, period))
