"""Metrics in Prometheus' text format on /metrics, for a scraper holding the bearer
token `PORTAL_METRICS_TOKEN` (without the setting, or with a wrong token, the route
answers 404 as if it did not exist). Nothing here carries patient data: counts, ages
and route names.

Two kinds of figures, kept honest under gunicorn's several processes:

- Counted in the process: request latency and responses by route (the endpoint's
  name, never the path). Each gunicorn worker counts its own requests; with
  `PROMETHEUS_MULTIPROC_DIR` set (deploy/gunicorn.conf.py sets it) prometheus_client
  keeps every worker's counts in files there and a scrape adds them up, so whichever
  worker answers reports the whole host. Without it (the demo, tests) a process
  reports its own.
- Read from the database at scrape time: the outbox, dead deliveries, risk flags past
  T1, escalations, sign-in locks, the workers' heartbeats. A feature registers a
  reader with `@metrics_reader` and the app factory imports it, as it does worker
  tasks; each reader sends one statement. These are the same from every host.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from flask import Flask, abort, current_app, g, make_response, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from portal.db import utcnow
from portal.security import public

Reader = Callable[[datetime], Iterable[Metric]]
READERS: list[Reader] = []

REQUEST_SECONDS = Histogram(
    "portal_request_duration_seconds",
    "Time to answer a request, by route (endpoint name)",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RESPONSES = Counter(
    "portal_responses",
    "Responses by route and status (429 on auth.* routes: sign-in throttling)",
    ["endpoint", "status"],
)


def metrics_reader(func: Reader) -> Reader:
    """Register a function that reads figures from the database at scrape time."""
    READERS.append(func)
    return func


def gauge(name: str, documentation: str, value=None, labels=None, samples=()):
    """A gauge family: one value, or (label values, value) samples."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    if value is not None:
        family.add_metric([], value)
    for label_values, sample in samples:
        family.add_metric(list(label_values), sample)
    return family


def counter(name: str, documentation: str, value=None, labels=None, samples=()):
    """A counter family read from the database (rows only ever added)."""
    family = CounterMetricFamily(name, documentation, labels=labels)
    if value is not None:
        family.add_metric([], value)
    for label_values, sample in samples:
        family.add_metric(list(label_values), sample)
    return family


def seconds_since(moment: datetime | None, now: datetime) -> float:
    return max(0.0, (now - moment).total_seconds()) if moment else 0.0


class DatabaseFigures:
    """A prometheus_client collector over the registered readers."""

    def collect(self) -> Iterable[Metric]:
        now = utcnow()
        for read in READERS:
            yield from read(now)


# ---- the app side ----------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Count every request (registered before the request log, so this runs after
    every other hook, with the final status), and serve /metrics."""
    app.after_request(_count_request)
    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])


def _count_request(response):
    endpoint = request.endpoint or "unmatched"
    started = g.get("request_started")
    if started is not None:
        REQUEST_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
    RESPONSES.labels(endpoint, str(response.status_code)).inc()
    return response


@public
def metrics():
    """Prometheus text for a scraper with the bearer token; 404 for anyone else."""
    token = current_app.config.get("METRICS_TOKEN")
    given = request.headers.get("Authorization", "")
    if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        abort(404)
    response = make_response(generate_latest(_registry()))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.cache_control.no_store = True
    return response


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessRegistry())
    registry.register(DatabaseFigures())
    return registry


class _ProcessRegistry:
    """This process's own counters (the default registry), beside the database's."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()
