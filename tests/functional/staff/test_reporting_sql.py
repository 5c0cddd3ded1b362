"""The SQL pieces the boards are built from give the same, right answers on SQLite and
PostgreSQL: local dates across midnight and daylight saving, epoch seconds, days
between dates, greatest/least, a table from bound rows, percentile_cont's
interpolation."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Date, Integer, String, literal, select

from portal import db
from portal.db import UTCDateTime
from portal.reporting import (
    MEDIAN,
    P90,
    days_between,
    epoch_seconds,
    greatest,
    least,
    local_date,
    percentile,
    ranked,
    rows_table,
)


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _moment(value: datetime):
    return literal(value, UTCDateTime())


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [
        # 03:30 UTC is still the evening before in New York (UTC-5 in winter) ...
        (datetime(2026, 1, 6, 3, 30, tzinfo=UTC), "America/New_York", date(2026, 1, 5)),
        # ... and 04:30 UTC is 00:30 the same day in summer (UTC-4).
        (datetime(2026, 7, 6, 4, 30, tzinfo=UTC), "America/New_York", date(2026, 7, 6)),
        (datetime(2026, 7, 6, 4, 30, tzinfo=UTC), "America/Chicago", date(2026, 7, 5)),
        (datetime(2026, 3, 8, 23, 59, tzinfo=UTC), "UTC", date(2026, 3, 8)),
    ],
)
def test_local_date_follows_the_time_zone(transaction, moment, zone, expected):
    assert db.session.scalar(select(local_date(_moment(moment), zone))) == expected


def test_epoch_seconds_and_days_between(transaction):
    moment = datetime(2026, 1, 5, 14, 3, 7, 999_000, tzinfo=UTC)
    seconds = db.session.scalar(select(epoch_seconds(_moment(moment))))
    assert seconds == int(moment.timestamp())
    later, earlier = (
        literal(date(2026, 3, 2), Date()),
        literal(date(2026, 2, 23), Date()),
    )
    assert db.session.scalar(select(days_between(later, earlier))) == 7
    assert db.session.scalar(select(days_between(earlier, later) // 7)) == -1


def test_greatest_and_least(transaction):
    a, b = literal(date(2026, 1, 5), Date()), literal(date(2026, 1, 9), Date())
    assert db.session.execute(select(greatest(a, b), least(a, b))).one() == (
        date(2026, 1, 9),
        date(2026, 1, 5),
    )


def test_rows_table_gives_typed_rows(transaction):
    table = rows_table(
        _dialect(),
        "cal",
        [("name", String()), ("day", Date()), ("n", Integer())],
        [("a", date(2026, 1, 5), 3), ("b", date(2026, 1, 12), 4)],
    )
    rows = db.session.execute(
        select(table.c.name, table.c.day, table.c.n + 1).order_by(table.c.day)
    ).all()
    assert [tuple(r) for r in rows] == [
        ("a", date(2026, 1, 5), 4),
        ("b", date(2026, 1, 12), 5),
    ]
    later = db.session.scalar(
        select(table.c.name).where(table.c.day > literal(date(2026, 1, 6), Date()))
    )
    assert later == "b"


@pytest.mark.parametrize(
    "values",
    [[7], [1, 2], [5, 1, 4], [3, 3, 9, 12], list(range(1, 11)), [40, 2, 17, 8, 8, 30]],
)
def test_percentiles_match_percentile_cont(transaction, values):
    table = rows_table(
        _dialect(),
        "v",
        [("g", Integer()), ("x", Integer())],
        [(1, v) for v in values],
    )
    inner = select(table.c.x, *ranked(table.c.x, [table.c.g])).subquery()
    median, p90 = db.session.execute(
        select(
            percentile(inner.c.x, inner.c.rn, inner.c.n, MEDIAN),
            percentile(inner.c.x, inner.c.rn, inner.c.n, P90),
        )
    ).one()
    assert median == pytest.approx(statistics.median(values))
    expected = (
        values[0]
        if len(values) == 1
        else statistics.quantiles(values, n=10, method="inclusive")[8]
    )
    assert p90 == pytest.approx(expected)
    if _dialect() == "postgresql":
        from sqlalchemy import func

        cont = db.session.execute(
            select(
                func.percentile_cont(0.5).within_group(table.c.x),
                func.percentile_cont(0.9).within_group(table.c.x),
            )
        ).one()
        assert (median, p90) == pytest.approx(cont)
