"""The director's board, people and days: census, length of stay, attendance and
check-ins, each figure from its statement to its table and charts."""

from __future__ import annotations

from portal.blueprints.staff.board import Board
from portal.blueprints.staff.board_parts import TOTAL
from portal.blueprints.staff.figure_parts import (
    Figure,
    axis_top,
    gap_note,
    number,
    percent,
    share,
    short_label,
    week_label,
)
from portal.charts import Series, series_chart


def census(board: Board) -> Figure:
    period = board.period
    rows = board.flow()
    weeks = [r for r in rows if r.week_no != TOTAL]
    figure = Figure(
        "census",
        "Patients in the program",
        "Admissions and discharges each week, and how many patients were still "
        "enrolled when the week ended (this week: today).",
        ["Week of", "Admitted", "Discharged", "Enrolled at the end of the week"],
    )
    for r in weeks:
        figure.rows.append(
            [
                week_label(period, r.week_no),
                str(int(r.admissions)),
                str(int(r.discharges)),
                str(int(r.census)),
            ]
        )
    total = next(r for r in rows if r.week_no == TOTAL)
    figure.rows.append(
        ["All weeks", str(int(total.admissions)), str(int(total.discharges)), ""]
    )
    labels = [short_label(period, r.week_no) for r in weeks]
    enrolled = [int(r.census) for r in weeks]
    figure.charts = [
        series_chart(
            "ch-census",
            "Patients enrolled at the end of each week",
            f"From {enrolled[0]} to {enrolled[-1]} patients over {len(weeks)} weeks.",
            labels,
            [Series("Enrolled", enrolled)],
            axis_top(enrolled),
        ),
        series_chart(
            "ch-flow",
            "Admissions and discharges each week",
            f"{int(total.admissions)} admitted and {int(total.discharges)} "
            f"discharged in {len(weeks)} weeks.",
            labels,
            [
                Series("Admitted", [int(r.admissions) for r in weeks]),
                Series("Discharged", [int(r.discharges) for r in weeks]),
            ],
            axis_top(
                [int(r.admissions) for r in weeks] + [int(r.discharges) for r in weeks]
            ),
            bars=True,
        ),
    ]
    return figure


def stay(board: Board) -> Figure:
    period = board.period
    rows = board.flow()
    weeks = [r for r in rows if r.week_no != TOTAL]
    figure = Figure(
        "stay",
        "Length of stay",
        "Days from admission to discharge of the patients discharged each week: the "
        "median and the 90th percentile (9 in 10 stayed this long or less).",
        ["Week of", "Discharged", "Median days", "90th percentile days"],
    )
    for r in weeks:
        figure.rows.append(
            [
                week_label(period, r.week_no),
                str(r.stay_n),
                number(r.stay_median),
                number(r.stay_p90),
            ]
        )
    total = next(r for r in rows if r.week_no == TOTAL)
    figure.rows.append(
        [
            "All weeks",
            str(total.stay_n),
            number(total.stay_median),
            number(total.stay_p90),
        ]
    )
    medians = [r.stay_median for r in weeks]
    figure.charts = [
        series_chart(
            "ch-stay",
            "Length of stay of each week's discharges, in days",
            f"Median {number(total.stay_median)} days over {total.stay_n} discharges "
            "in the period; weeks without discharges are gaps.",
            [short_label(period, r.week_no) for r in weeks],
            [
                Series("Median", medians),
                Series("90th percentile", [r.stay_p90 for r in weeks]),
            ],
            axis_top(
                [v for v in [*medians, *(r.stay_p90 for r in weeks)] if v is not None]
            ),
        )
    ]
    return figure


def attendance(board: Board) -> Figure:
    period, scope = board.period, board.scope
    rows = board.attendance()
    figure = Figure(
        "attendance",
        "Group attendance",
        "Group sessions of each track that enrolled patients were scheduled for "
        "(through yesterday), and how many they came to, on time or late.",
        [
            "Track",
            "Week of",
            "Patients",
            "Sessions scheduled",
            "Attended",
            "Share attended",
        ],
    )
    tracks: dict[str, list] = {}
    for r in rows:
        name = f"{r.program}: {r.track}" if scope.many else r.track
        tracks.setdefault(r.track_id, [name, []])[1].append(r)
        figure.rows.append(
            [
                name,
                week_label(period, r.week_no),
                str(int(r.patients)),
                str(int(r.scheduled)),
                str(int(r.attended)),
                share(int(r.attended), int(r.scheduled), int(r.patients)),
            ]
        )
    series = [
        Series(
            name,
            [
                percent(int(r.attended), int(r.scheduled), int(r.patients))
                for r in weeks
            ],
        )
        for name, weeks in tracks.values()
    ]
    labels = (
        [short_label(period, r.week_no) for r in next(iter(tracks.values()))[1]]
        if tracks
        else []
    )
    figure.charts = [
        series_chart(
            "ch-attendance",
            "Share of scheduled group sessions attended, per track",
            gap_note(series, "%"),
            labels,
            series,
            100,
            unit="%",
        )
    ]
    return figure


def checkins(board: Board) -> Figure:
    period = board.period
    rows = board.engagement()
    figure = Figure(
        "checkins",
        "Daily check-ins and questionnaires",
        "Days patients were enrolled (through yesterday) and the check-ins done on "
        "them; PHQ-9 and GAD-7 done, and how many were on time (by the day due "
        "plus 2 days; due at admission, then a set number of days after the last).",
        [
            "Week of",
            "Patients",
            "Days enrolled",
            "Check-ins",
            "Share checked in",
            "Questionnaires done",
            "On time",
            "Share on time",
        ],
    )
    done = {r.week_no: r for r in board.scores() if r.week_no != TOTAL}
    checked, timely = [], []
    for r in rows:
        q = done.get(r.week_no)
        asked, on_time, patients = (
            (int(q.done), int(q.on_time), int(q.patients)) if q else (0, 0, 0)
        )
        days, made, enrolled = int(r.expected), int(r.checkins), int(r.patients)
        figure.rows.append(
            [
                week_label(period, r.week_no),
                str(enrolled),
                str(days),
                str(made),
                share(made, days, enrolled),
                str(asked),
                str(on_time),
                share(on_time, asked, patients),
            ]
        )
        checked.append(percent(made, days, enrolled))
        timely.append(percent(on_time, asked, patients))
    series = [Series("Checked in", checked), Series("Questionnaires on time", timely)]
    figure.charts = [
        series_chart(
            "ch-checkins",
            "Share of days with a check-in, and of questionnaires on time",
            gap_note(series, "%"),
            [short_label(period, r.week_no) for r in rows],
            series,
            100,
            unit="%",
        )
    ]
    return figure
