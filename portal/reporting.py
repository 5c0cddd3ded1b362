"""SQL pieces for boards and reports that read the same on SQLite and PostgreSQL:
a program's local date of a moment, whole epoch seconds, days between two dates,
greatest/least, a table made of rows bound as one JSON value, and percentiles (the
same interpolation as PostgreSQL's percentile_cont) from window functions.

Each piece compiles to the dialect's own SQL, so a figure is one statement that the
database aggregates, on either database, with the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    Integer,
    String,
    bindparam,
    case,
    cast,
    func,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.sql.selectable import CTE
from sqlalchemy.types import TypeEngine


class local_date(FunctionElement):
    """The calendar date of a UTC moment in a time zone (a program's `timezone`)."""

    type = Date()
    inherit_cache = True
    name = "local_date"


@compiles(local_date, "postgresql")
def _local_date_pg(element, compiler, **kw):
    moment, zone = element.clauses
    return (
        f"CAST(timezone({compiler.process(zone, **kw)}, "
        f"{compiler.process(moment, **kw)}) AS DATE)"
    )


@compiles(local_date, "sqlite")
def _local_date_sqlite(element, compiler, **kw):
    # portal_local_date is a Python function registered on every SQLite connection
    # (portal/db.py): SQLite knows no time zones.
    return f"portal_local_date({compiler.process(element.clauses, **kw)})"


class epoch_seconds(FunctionElement):
    """Whole seconds since 1970 of a moment: the same integer on both databases."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds, "postgresql")
def _epoch_pg(element, compiler, **kw):
    return (
        "CAST(FLOOR(EXTRACT(EPOCH FROM "
        f"{compiler.process(element.clauses, **kw)})) AS BIGINT)"
    )


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


class days_between(FunctionElement):
    """Whole days from the second date to the first (negative when before)."""

    type = Integer()
    inherit_cache = True
    name = "days_between"


@compiles(days_between, "postgresql")
def _days_pg(element, compiler, **kw):
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST({later} AS DATE) - CAST({earlier} AS DATE))"


@compiles(days_between, "sqlite")
def _days_sqlite(element, compiler, **kw):
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


class greatest(FunctionElement):
    """The largest of its (non-NULL) arguments."""

    inherit_cache = True
    name = "greatest"

    def __init__(self, *args):
        super().__init__(*args)
        self.type = self.clauses.clauses[0].type


class least(FunctionElement):
    """The smallest of its (non-NULL) arguments."""

    inherit_cache = True
    name = "least"

    def __init__(self, *args):
        super().__init__(*args)
        self.type = self.clauses.clauses[0].type


@compiles(greatest)
def _greatest(element, compiler, **kw):
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(least)
def _least(element, compiler, **kw):
    return f"LEAST({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "sqlite")
def _greatest_sqlite(element, compiler, **kw):
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(least, "sqlite")
def _least_sqlite(element, compiler, **kw):
    return f"min({compiler.process(element.clauses, **kw)})"


def rows_table(
    dialect: str,
    name: str,
    columns: Sequence[tuple[str, TypeEngine]],
    rows: Iterable[Sequence] | None = None,
) -> CTE:
    """A table of rows made in Python (a calendar, the programs' settings), sent as
    one bound JSON value named `<name>_rows`: one parameter however many rows, so
    the statement's text stays the same. Dates go in as ISO text, moments as epoch
    seconds. Without `rows`, the value is given when the statement runs
    (`rows_param`)."""
    value = rows_param(rows) if rows is not None else None
    payload = bindparam(f"{name}_rows", value, String())
    if dialect == "postgresql":
        elements = func.jsonb_array_elements(cast(payload, JSONB)).table_valued("value")
        picked = [
            cast(elements.c.value.op("->>")(index), type_).label(column)
            for index, (column, type_) in enumerate(columns)
        ]
    else:
        elements = func.json_each(payload).table_valued("value")
        picked = [
            type_coerce(
                func.json_extract(elements.c.value, f"$[{index}]"), type_
            ).label(column)
            for index, (column, type_) in enumerate(columns)
        ]
    return select(*picked).select_from(elements).cte(name)


def rows_param(rows: Iterable[Sequence]) -> str:
    """The value of a `rows_table`'s parameter."""
    return json.dumps([list(row) for row in rows], default=str)


# ---- percentiles ---------------------------------------------------------------------

MEDIAN, P90 = (1, 2), (9, 10)


def ranked(value: ColumnElement, partition: Sequence[ColumnElement]):
    """The two window columns `percentile` needs: the rank of each value in its group
    (smallest first) and the size of the group."""
    return (
        func.row_number()
        .over(partition_by=list(partition), order_by=value)
        .label("rn"),
        func.count().over(partition_by=list(partition)).label("n"),
    )


def percentile(
    value: ColumnElement, rn: ColumnElement, n: ColumnElement, fraction: tuple[int, int]
) -> ColumnElement:
    """An aggregate over ranked rows: the value at `fraction` (numerator, denominator)
    interpolated between the two nearest ranks, as percentile_cont does; NULL for an
    empty group. Integer arithmetic picks the ranks, so both databases agree."""
    num, den = fraction
    spread = num * (n - 1)
    low = 1 + spread // den
    high = 1 + (spread + den - 1) // den
    part = cast(spread % den, Float) / den
    at_low = func.max(case((rn == low, value)))
    at_high = func.max(case((rn == high, value)))
    return at_low + (at_high - at_low) * func.max(part)


__all__ = [
    "MEDIAN",
    "P90",
    "days_between",
    "epoch_seconds",
    "greatest",
    "least",
    "local_date",
    "percentile",
    "ranked",
    "rows_param",
    "rows_table",
]
