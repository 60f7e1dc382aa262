"""What a task handler is, and what it may know of the job it runs."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from adapters.postgis.jobs.tasks import MAINTENANCE_QUEUE

Handler = Callable[[Any, dict[str, Any]], Awaitable[None]]


@attrs.frozen(kw_only=True)
class PeriodicTask:
    """A task deferred on a schedule (cron, optionally with a sixth field for seconds); its
    handler gets {"timestamp": <unix seconds of the tick>}. Each tick runs once across all
    workers (procrastinate records the defer)."""

    cron: str
    handler: Handler
    queue: str = MAINTENANCE_QUEUE


@attrs.frozen(kw_only=True)
class JobRun:
    """The run a handler is in: `attempt` counts from 1; `last` when no retry follows a
    failure of this run."""

    id: int
    task: str
    attempt: int
    last: bool


_CURRENT: contextvars.ContextVar[JobRun] = contextvars.ContextVar("reserva_job_run")


def current_job() -> JobRun:
    """The job the calling handler runs (LookupError outside a worker's handler)."""
    return _CURRENT.get()
