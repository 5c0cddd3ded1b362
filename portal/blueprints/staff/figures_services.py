"""The director's board, services: help requests, case managers' load and peer
support, each figure from its statement to its table and charts."""

from __future__ import annotations

from portal.blueprints.staff.board import Board
from portal.blueprints.staff.board_parts import TOTAL
from portal.blueprints.staff.figure_parts import (
    KIND_NAMES,
    NONE,
    Figure,
    axis_top,
    gap_note,
    hours_of,
    number,
    percent,
    share,
    short_label,
    week_label,
)
from portal.charts import Series, series_chart


def requests(board: Board) -> Figure:
    rows = board.requests()
    found = {r.kind: r for r in rows if r.week_no == TOTAL}
    figure = Figure(
        "requests",
        "Requests for help: response times",
        "Requests asked in the period, by kind. Times count opening hours only; on "
        "time means by the program's target. Got the help: of the patients who "
        'answered "Did you get the help?" on a done request, those who said yes '
        '("partly" and "no" are not counted as yes). Open and overdue: now, '
        "whenever asked.",
        [
            "Kind",
            "Asked",
            "Median hours to first contact",
            "First contact on time",
            "Median hours to done",
            "Done on time",
            "Answered: got the help?",
            "Got the help",
            "Open now",
            "Overdue now",
            "Open with nobody",
        ],
    )
    for kind, name in KIND_NAMES.items():
        r = found.get(kind.value)
        if r is None:
            figure.rows.append(
                [name, "0", NONE, NONE, NONE, NONE, "0", NONE, "0", "0", "0"]
            )
            continue
        figure.rows.append(
            [
                name,
                str(int(r.asked)),
                number(r.contact_median),
                share(int(r.contact_on_time), int(r.contacted)),
                number(r.done_median),
                share(int(r.done_on_time), int(r.done)),
                str(int(r.help_answered or 0)),
                share(int(r.got_help or 0), int(r.help_answered or 0)),
                str(int(r.open_now)),
                str(int(r.overdue_now)),
                str(int(r.unassigned_now)),
            ]
        )
    series = [
        Series(
            "First contact",
            [hours_of(found.get(k.value), "contact_median") for k in KIND_NAMES],
        ),
        Series(
            "Done", [hours_of(found.get(k.value), "done_median") for k in KIND_NAMES]
        ),
    ]
    figure.charts = [
        series_chart(
            "ch-requests",
            "Median opening hours to first contact and to done, by kind",
            "Kinds without an answer yet are left out.",
            list(KIND_NAMES.values()),
            series,
            axis_top([v for s in series for v in s.values if v is not None]),
            bars=True,
        )
    ]
    return figure


def request_weeks(board: Board) -> Figure:
    period = board.period
    rows = board.requests()
    found = {r.week_no: r for r in rows if r.kind == ""}
    figure = Figure(
        "request_weeks",
        "Requests for help each week",
        "Requests asked each week: how many had a first contact, how many on time, "
        "and the median opening hours to it.",
        [
            "Week of",
            "Asked",
            "First contact",
            "On time",
            "Share on time",
            "Median hours to first contact",
        ],
    )
    on_time = []
    for week_no in range(period.weeks):
        r = found.get(week_no)
        asked, contacted = (int(r.asked), int(r.contacted)) if r else (0, 0)
        timely = int(r.contact_on_time) if r else 0
        figure.rows.append(
            [
                week_label(period, week_no),
                str(asked),
                str(contacted),
                str(timely),
                share(timely, contacted),
                number(r.contact_median if r else None),
            ]
        )
        on_time.append(percent(timely, contacted))
    series = [Series("First contact on time", on_time)]
    figure.charts = [
        series_chart(
            "ch-request-weeks",
            "Share of first contacts on time, each week",
            gap_note(series, "%", what="week"),
            [short_label(period, n) for n in range(period.weeks)],
            series,
            100,
            unit="%",
        )
    ]
    return figure


def caseload(board: Board) -> Figure:
    rows = board.case_manager_load()
    now = board.period.now
    figure = Figure(
        "caseload",
        "Open requests per case manager",
        "Each case manager's open requests now: all, urgent and overdue, and whether "
        "they are away.",
        ["Case manager", "Open", "Urgent", "Overdue", "Away until"],
    )
    for r in rows:
        away = f"{r.until:%b %-d, %Y}" if r.until and r.until > now else "Not away"
        figure.rows.append(
            [
                r.display_name,
                str(int(r.open)),
                str(int(r.urgent)),
                str(int(r.overdue)),
                away,
            ]
        )
    figure.charts = [
        series_chart(
            "ch-caseload",
            "Open and overdue requests per case manager",
            f"{len(rows)} case managers.",
            [r.display_name for r in rows],
            [
                Series("Open", [int(r.open) for r in rows]),
                Series("Overdue", [int(r.overdue) for r in rows]),
            ],
            axis_top([int(r.open) for r in rows]),
            bars=True,
        )
    ]
    return figure


def peer(board: Board) -> Figure:
    period = board.period
    rows = board.peer_support()
    figure = Figure(
        "peer",
        "Peer support",
        "Peer-support contacts logged each week with their minutes and H0038 units "
        "(one unit per 15 minutes, counted from 8 minutes); patients' messages, and "
        "how many staff answered within one opening day of opening time.",
        [
            "Week of",
            "Contacts",
            "Minutes",
            "H0038 units",
            "Patient messages",
            "Answered within a day",
            "Share answered",
        ],
    )
    for r in rows:
        figure.rows.append(
            [
                week_label(period, r.week_no),
                str(int(r.contacts)),
                str(int(r.minutes)),
                str(int(r.units)),
                str(int(r.messages)),
                str(int(r.answered)),
                share(int(r.answered), int(r.messages), int(r.writers)),
            ]
        )
    labels = [short_label(period, r.week_no) for r in rows]
    answered = [
        Series(
            "Answered within a day",
            [percent(int(r.answered), int(r.messages), int(r.writers)) for r in rows],
        )
    ]
    figure.charts = [
        series_chart(
            "ch-peer",
            "Peer-support contacts and H0038 units each week",
            f"{sum(int(r.contacts) for r in rows)} contacts, "
            f"{sum(int(r.units) for r in rows)} units.",
            labels,
            [
                Series("Contacts", [int(r.contacts) for r in rows]),
                Series("Units", [int(r.units) for r in rows]),
            ],
            axis_top([int(r.units) for r in rows] + [int(r.contacts) for r in rows]),
            bars=True,
        ),
        series_chart(
            "ch-peer-answers",
            "Share of patients' messages answered within one opening day",
            gap_note(answered, "%"),
            labels,
            answered,
            100,
            unit="%",
        ),
    ]
    return figure
