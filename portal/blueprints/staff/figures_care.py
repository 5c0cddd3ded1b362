"""The director's board, care: risk flags and their acknowledgement, and outcomes
(response and remission), each figure from its statement to its table and charts."""

from __future__ import annotations

from portal.blueprints.checkins.instruments import Instrument
from portal.blueprints.staff.board import Board
from portal.blueprints.staff.board_parts import TOTAL
from portal.blueprints.staff.figure_parts import (
    INSTRUMENT_NAMES,
    NONE,
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


def safety(board: Board) -> Figure:
    period, scope = board.period, board.scope
    rows = board.safety()
    weeks = [r for r in rows if r.week_no != TOTAL]
    targets = (
        "each program's own T1 and T2"
        if scope.many
        else f"T1 is {scope.programs[0].t1_minutes} minutes, T2 is "
        f"{scope.programs[0].t2_minutes} minutes"
    )
    figure = Figure(
        "safety",
        "Safety alerts",
        "Risk alerts opened each week; minutes until someone took each one, against "
        f"the program's targets ({targets}); alerts not yet taken count once T1 has "
        "passed; alerts that moved up to the backup or to the director.",
        [
            "Week of",
            "Alerts opened",
            "Taken",
            "Median minutes to take",
            "90th percentile minutes",
            "Taken within T1",
            "Taken within T2",
            "Reached the backup",
            "Reached the director",
        ],
    )
    for r in [*weeks, next(r for r in rows if r.week_no == TOTAL)]:
        label = "All weeks" if r.week_no == TOTAL else week_label(period, r.week_no)
        figure.rows.append(
            [
                label,
                str(int(r.opened)),
                str(int(r.acknowledged)),
                number(r.median),
                number(r.p90),
                share(int(r.in_t1), int(r.due)),
                share(int(r.in_t2), int(r.due)),
                str(int(r.backup)),
                str(int(r.director)),
            ]
        )
    labels = [short_label(period, r.week_no) for r in weeks]
    opened = [int(r.opened) for r in weeks]
    figure.charts = [
        series_chart(
            "ch-safety",
            "Risk alerts opened, and how far they moved up",
            f"{sum(opened)} alerts in {len(weeks)} weeks.",
            labels,
            [
                Series("Opened", opened),
                Series("Reached the backup", [int(r.backup) for r in weeks]),
                Series("Reached the director", [int(r.director) for r in weeks]),
            ],
            axis_top(opened),
            bars=True,
        ),
        series_chart(
            "ch-safety-minutes",
            "Minutes until an alert was taken",
            "Median and 90th percentile of each week; weeks without a taken alert "
            "are gaps.",
            labels,
            [
                Series("Median", [r.median for r in weeks]),
                Series("90th percentile", [r.p90 for r in weeks]),
            ],
            axis_top([v for r in weeks for v in (r.median, r.p90) if v is not None]),
        ),
    ]
    return figure


def outcomes(board: Board) -> Figure:
    rows = [r for r in board.scores() if r.week_no == TOTAL]
    found = {Instrument(r.instrument): r for r in rows}
    figure = Figure(
        "outcomes",
        "Scores at admission and now",
        "Patients in care during the period with a score in their first 7 days and "
        "a later one (the latest, or the last before discharge). Response: the score "
        "fell by half or more. Remission: the score is now below 5.",
        [
            "Questionnaire",
            "Patients with both scores",
            "Average at admission",
            "Average latest",
            "Response",
            "Remission",
        ],
    )
    response, remission = [], []
    for instrument, name in INSTRUMENT_NAMES.items():
        r = found.get(instrument)
        patients = int(r.patients) if r else 0
        responded = int(r.responded) if r else 0
        remitted = int(r.remitted) if r else 0
        figure.rows.append(
            [
                name,
                str(patients),
                number(r.admission_sum / patients) if patients else NONE,
                number(r.latest_sum / patients) if patients else NONE,
                share(responded, patients, patients),
                share(remitted, patients, patients),
            ]
        )
        response.append(percent(responded, patients, patients))
        remission.append(percent(remitted, patients, patients))
    series = [Series("Response", response), Series("Remission", remission)]
    figure.charts = [
        series_chart(
            "ch-outcomes",
            "Response and remission, PHQ-9 and GAD-7",
            gap_note(series, "%", what="questionnaire"),
            list(INSTRUMENT_NAMES.values()),
            series,
            100,
            bars=True,
            unit="%",
        )
    ]
    return figure
