"""The director's board as figures: each a title, a note on how it is counted, a table
and its charts. The table's cells are the CSV's cells, so every number on the page
can be checked from the download. A share on fewer than SMALL patients reads "n of N",
never a bare percentage, and is left out of the charts."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from markupsafe import Markup

from portal.blueprints.checkins.instruments import Instrument
from portal.blueprints.needs.models import NeedKind
from portal.blueprints.staff.board import Board, Period, Scope
from portal.blueprints.staff.board_parts import TOTAL
from portal.charts import Series, series_chart

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


def _week(period: Period, week_no: int) -> str:
    return f"{period.week_start(week_no):%b %-d, %Y}"


def _short(period: Period, week_no: int) -> str:
    return f"{period.week_start(week_no):%b %-d}"


# ---- one builder per figure: the statement it needs, then its table and charts -------


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
                _week(period, r.week_no),
                str(int(r.admissions)),
                str(int(r.discharges)),
                str(int(r.census)),
            ]
        )
    total = next(r for r in rows if r.week_no == TOTAL)
    figure.rows.append(
        ["All weeks", str(int(total.admissions)), str(int(total.discharges)), ""]
    )
    labels = [_short(period, r.week_no) for r in weeks]
    enrolled = [int(r.census) for r in weeks]
    figure.charts = [
        series_chart(
            "ch-census",
            "Patients enrolled at the end of each week",
            f"From {enrolled[0]} to {enrolled[-1]} patients over {len(weeks)} weeks.",
            labels,
            [Series("Enrolled", enrolled)],
            _top(enrolled),
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
            _top(
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
                _week(period, r.week_no),
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
            [_short(period, r.week_no) for r in weeks],
            [
                Series("Median", medians),
                Series("90th percentile", [r.stay_p90 for r in weeks]),
            ],
            _top(
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
                _week(period, r.week_no),
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
        [_short(period, r.week_no) for r in next(iter(tracks.values()))[1]]
        if tracks
        else []
    )
    figure.charts = [
        series_chart(
            "ch-attendance",
            "Share of scheduled group sessions attended, per track",
            _gap_note(series, "%"),
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
                _week(period, r.week_no),
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
            _gap_note(series, "%"),
            [_short(period, r.week_no) for r in rows],
            series,
            100,
            unit="%",
        )
    ]
    return figure


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
        label = "All weeks" if r.week_no == TOTAL else _week(period, r.week_no)
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
    labels = [_short(period, r.week_no) for r in weeks]
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
            _top(opened),
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
            _top([v for r in weeks for v in (r.median, r.p90) if v is not None]),
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
            _gap_note(series, "%", what="questionnaire"),
            list(INSTRUMENT_NAMES.values()),
            series,
            100,
            bars=True,
            unit="%",
        )
    ]
    return figure


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
            [_hours(found.get(k.value), "contact_median") for k in KIND_NAMES],
        ),
        Series("Done", [_hours(found.get(k.value), "done_median") for k in KIND_NAMES]),
    ]
    figure.charts = [
        series_chart(
            "ch-requests",
            "Median opening hours to first contact and to done, by kind",
            "Kinds without an answer yet are left out.",
            list(KIND_NAMES.values()),
            series,
            _top([v for s in series for v in s.values if v is not None]),
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
                _week(period, week_no),
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
            _gap_note(series, "%", what="week"),
            [_short(period, n) for n in range(period.weeks)],
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
            _top([int(r.open) for r in rows]),
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
                _week(period, r.week_no),
                str(int(r.contacts)),
                str(int(r.minutes)),
                str(int(r.units)),
                str(int(r.messages)),
                str(int(r.answered)),
                share(int(r.answered), int(r.messages), int(r.writers)),
            ]
        )
    labels = [_short(period, r.week_no) for r in rows]
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
            _top([int(r.units) for r in rows] + [int(r.contacts) for r in rows]),
            bars=True,
        ),
        series_chart(
            "ch-peer-answers",
            "Share of patients' messages answered within one opening day",
            _gap_note(answered, "%"),
            labels,
            answered,
            100,
            unit="%",
        ),
    ]
    return figure


def _hours(row, name: str) -> float | None:
    return None if row is None else getattr(row, name)


def _top(values: list[float]) -> float:
    """A round top for the y axis, at least the largest value."""
    largest = max([float(v) for v in values] or [0])
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if largest <= step * 4:
            return step * 4 if largest > step * 2 else step * 2
    return largest


def _gap_note(series: list[Series], unit: str, what: str = "week") -> str:
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


# ---- what the page and the downloads use ---------------------------------------------

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
