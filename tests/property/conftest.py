"""Hypothesis profiles for the property tests, each example in its own savepoint
(rolled back, so examples neither see nor change one another), and a tally of the
cases run and the 5xx seen, written to test-artifacts/ for the figure."""

from __future__ import annotations

import json
import os
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import func, select

from portal import db

ON_POSTGRES = os.environ.get("PORTAL_TEST_DATABASE_URL", "").startswith("postgresql")
DATABASE = "postgresql" if ON_POSTGRES else "sqlite"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# Each example is one or two requests through the app in process; signing in and
# building the world happen once per test function, hence the fixture check is off.
_COMMON = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
    "print_blob": True,
}
# CI: the same examples on every run, so a failure can be reproduced from the log.
settings.register_profile(
    "ci",
    max_examples=100 if ON_POSTGRES else 1000,
    derandomize=True,
    database=None,
    **_COMMON,
)
# By hand: HYPOTHESIS_PROFILE=deep, ten times more and new examples on each run
# (failures are kept in .hypothesis/ and tried first next time).
settings.register_profile(
    "deep", max_examples=1000 if ON_POSTGRES else 10_000, **_COMMON
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def pytest_collection_modifyitems(items):
    """A deep run takes minutes per test: no time limit for these."""
    if PROFILE == "deep":
        here = Path(__file__).parent
        for item in items:
            if here in Path(item.path).parents:
                item.add_marker(pytest.mark.timeout(0))


# Tables a refused post may still write: the audit log and the server-side session
# (its last-seen time), and on a risk answer the flag it opens and whom it pages
# (issue item 2: a refused check-in with a risk answer still opens a flag).
BOOKKEEPING = {"audit_log", "audit_chain_head", "web_sessions", "sign_in_throttle"}
KEPT_FOR_RISK = {
    "risk_flags",
    "risk_flag_events",
    "outbound_pages",
    "notifications",
    "push_deliveries",
}

_TALLY: dict[str, dict] = {}


class Tally:
    """Cases run and statuses seen by one property test."""

    def __init__(self, name: str, expected_to_fail: str | None):
        self.entry = _TALLY.setdefault(
            name, {"cases": 0, "5xx": 0, "statuses": Counter(), "routes": Counter()}
        )
        if expected_to_fail:
            self.entry["expected_to_fail"] = expected_to_fail

    def saw(self, status: int, route: str = "") -> None:
        self.entry["cases"] += 1
        self.entry["statuses"][str(status)] += 1
        if route:
            self.entry["routes"][route] += 1
            if os.environ.get("PROPERTY_DEBUG"):  # which route answered what
                self.entry["statuses"][f"{route} {status}"] += 1
        if status >= 500:
            self.entry["5xx"] += 1


@pytest.fixture
def tally(request) -> Tally:
    mark = request.node.get_closest_marker("xfail")
    active = mark is not None and (not mark.args or mark.args[0])
    return Tally(request.node.name, mark.kwargs.get("reason") if active else None)


@pytest.fixture(scope="session", autouse=True)
def _write_tally():
    yield
    if not _TALLY:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    tests = {
        name: {
            **entry,
            "statuses": dict(sorted(entry["statuses"].items())),
            "routes": dict(sorted(entry["routes"].items())),
        }
        for name, entry in sorted(_TALLY.items())
    }
    counted = [t for t in tests.values() if "expected_to_fail" not in t]
    waiting = [t for t in tests.values() if "expected_to_fail" in t]
    summary = {
        "database": DATABASE,
        "profile": PROFILE,
        "cases": sum(t["cases"] for t in counted),
        "5xx": sum(t["5xx"] for t in counted),
        # Tests marked to fail until another change lands (their reason says which).
        "expected_to_fail": {
            "cases": sum(t["cases"] for t in waiting),
            "5xx": sum(t["5xx"] for t in waiting),
        },
        "tests": tests,
    }
    path = ARTIFACTS / f"property-tests-{DATABASE}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")


@pytest.fixture
def each_example(transaction):
    """A savepoint per example, rolled back after it: the test's world stays as it
    was, so a failing example fails again when Hypothesis replays it."""

    @contextmanager
    def scope():
        db.session.remove()  # the test's own reads may have opened the session
        savepoint = transaction.begin_nested()
        try:
            yield
        finally:
            db.session.remove()
            if savepoint.is_active:
                savepoint.rollback()

    return scope


def baseline_counts() -> dict[str, int]:
    """Rows before the examples: what the test itself made is kept first (into the
    test's transaction), since each example starts by closing the session."""
    db.session.commit()
    return row_counts()


def row_counts(skip: set[str] = frozenset()) -> dict[str, int]:
    """Rows in every table but the bookkeeping ones, in one statement."""
    tables = [
        t for t in db.Base.metadata.sorted_tables if t.name not in BOOKKEEPING | skip
    ]
    counts = db.session.execute(
        select(
            *(
                select(func.count()).select_from(t).scalar_subquery().label(t.name)
                for t in tables
            )
        )
    ).one()
    return dict(zip([t.name for t in tables], counts, strict=True))
