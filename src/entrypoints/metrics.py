"""Prometheus metrics of the API and the worker (prometheus-client; docs/adr/0033).

`reserva serve` runs several API processes and a job process: each writes its samples to
memory-mapped files in PROMETHEUS_MULTIPROC_DIR (set by serve before it starts them; the client
library reads it when imported), and whichever process answers a scrape sums them all. Without
the variable (one process: tests, `serve --workers 1`) the library's default registry is used.

Counted in the processes: requests and their latency per route *template* (a raw path would
make one series per booking id), database pool use (SQLAlchemy pool events), job failures per
task, and domain events (bookings, payments, ...) as the worker dispatches them. Read from the
database at scrape time (one state for all processes): job queue depth and lag, outbox backlog
and lag, dead webhook deliveries (adapters.postgis.metrics).
"""

from __future__ import annotations

import contextlib
import os
import re
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.metrics import OperationsState

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "unmatched"  # 404s: one series, whatever path was asked

# Latency buckets around what was measured here: ~1-5 ms for a hold or a search, up to seconds
# for Stripe calls and under pool starvation.
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "reserva_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "reserva_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
DB_POOL_CHECKED_OUT = Gauge(
    "reserva_db_pool_checked_out",
    "Database connections lent out by the pools, summed over live processes.",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "reserva_db_pool_size",
    "Database connections the pools may lend, summed over live processes.",
    ["pool"],
    multiprocess_mode="livesum",
)
JOB_FAILURES = Counter(
    "reserva_job_failures_total",
    "Job runs that raised (retried or not), by task; deliver_webhook counts webhook failures.",
    ["task"],
)
DOMAIN_EVENTS = Counter(
    "reserva_domain_events_total",
    "Domain events dispatched by the worker (booking.held, payment.succeeded, ...), by name.",
    ["name"],
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_EVENT_NAME = re.compile(r"[a-z_]+(\.[a-z_]+)*")


def method_label(method: str) -> str:
    """Known methods by name, anything else as one `other` (labels must stay few)."""
    return method if method in _METHODS else "other"


# (method, route, status) -> its counter and histogram: `labels()` takes a lock and builds a
# key on every call, a third of what observing a request cost (bench/observability.py). The
# keys are bounded by the route table.
_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def record_request(method: str, route: str, status: int, seconds: float) -> None:
    key = (method_label(method), route, status)  # never a raw method: keys stay bounded
    series = _SERIES.get(key)
    if series is None:
        series = (HTTP_REQUESTS.labels(key[0], route, str(status)), HTTP_LATENCY.labels(*key[:2]))
        _SERIES[key] = series
    count, latency = series
    count.inc()
    latency.observe(seconds)


def count_domain_event(name: str | None) -> None:
    if name is not None and _EVENT_NAME.fullmatch(name):
        DOMAIN_EVENTS.labels(name).inc()


def count_job_failure(task: str) -> None:
    JOB_FAILURES.labels(task).inc()


# ---------------------------------------------------------------- database pools


_WATCHED: weakref.WeakSet[Engine] = weakref.WeakSet()


def watch_pools(engines: Mapping[str, AsyncEngine]) -> None:
    """Keep the pool gauges of this process in step with `engines` (name -> engine); an
    engine already watched is left alone (several apps of one container: tests)."""
    for name, engine in engines.items():
        if engine.sync_engine in _WATCHED:
            continue
        _WATCHED.add(engine.sync_engine)
        pool = engine.sync_engine.pool
        size = pool.size() if hasattr(pool, "size") else 0
        DB_POOL_SIZE.labels(name).set(size)
        checked_out = DB_POOL_CHECKED_OUT.labels(name)
        checked_out.set(0)
        event.listen(engine.sync_engine, "checkout", lambda *_, g=checked_out: g.inc())
        event.listen(engine.sync_engine, "checkin", lambda *_, g=checked_out: g.dec())


# ---------------------------------------------------------------- rendering a scrape


class _OperationsCollector(Collector):
    """The database's state, as read for this scrape."""

    def __init__(self, state: OperationsState) -> None:
        self._state = state

    def collect(self) -> Iterable[Metric]:
        state = self._state
        due = GaugeMetricFamily(
            "reserva_job_queue_depth", "Jobs due to run now and not started, by queue.",
            labels=["queue"],
        )  # fmt: skip
        lag = GaugeMetricFamily(
            "reserva_job_queue_lag_seconds",
            "How long the oldest due job of a queue has waited.",
            labels=["queue"],
        )
        for queue in state.queues:
            due.add_metric([queue.queue], queue.due)
            lag.add_metric([queue.queue], queue.lag_seconds)
        yield due
        yield lag
        yield GaugeMetricFamily(
            "reserva_outbox_undelivered", "Outbox events not yet dispatched.",
            value=state.outbox_undelivered,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "reserva_outbox_lag_seconds",
            "Age of the oldest outbox event not yet dispatched (0: none waiting).",
            value=state.outbox_lag_seconds,
        )
        yield GaugeMetricFamily(
            "reserva_webhook_deliveries_dead",
            "Integrator webhook deliveries that gave up after every retry.",
            value=state.dead_webhook_deliveries,
        )


def _forget_dead_processes(directory: Path) -> None:
    """Live gauges of processes that died (a restarted API worker) stop counting."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render(state: OperationsState | None) -> bytes:
    """The text exposition of every process's metrics, and of `state` if read."""
    directory = os.environ.get(MULTIPROCESS_DIR)
    if directory:
        _forget_dead_processes(Path(directory))
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes, path=directory)  # type: ignore[no-untyped-call]
        text = generate_latest(processes)
    else:
        text = generate_latest(REGISTRY)
    if state is not None:
        database = CollectorRegistry(auto_describe=False)
        database.register(_OperationsCollector(state))
        text += generate_latest(database)
    return text


def prepare_multiprocess_dir(directory: Path) -> None:
    """An empty directory for the processes' sample files (stale files of an earlier run would
    add its counts to this one's); serve exports it as PROMETHEUS_MULTIPROC_DIR."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
