"""Deferring jobs in the caller's transaction, and the procrastinate App the worker runs.

A job deferred through `defer` is a row written on the unit of work's own connection, inside its
transaction: it exists exactly when the change that asked for it commits (the outbox trigger of
migration 0009 does the same for every event). Rolled back, there is no job to run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from procrastinate import App, PsycopgConnector, exceptions
from procrastinate.jobs import Job
from procrastinate.manager import JobManager
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgis.database import session_options

# Deferring through a given connection never touches the connector's pool: this one is never
# opened, it only speaks procrastinate's SQL.
_MANAGER = JobManager(PsycopgConnector())


class AlreadyQueued(Exception):
    """A job with the same queueing lock is waiting already (the caller's transaction stays
    usable: the insert ran in a savepoint)."""

    def __init__(self, queueing_lock: str) -> None:
        super().__init__(f"a job with queueing lock {queueing_lock!r} is waiting already")
        self.queueing_lock = queueing_lock


def libpq_conninfo(url: str) -> str:
    """A libpq URL from SQLAlchemy's `postgresql+psycopg://` (or a libpq one as it is)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return url
    if parsed.drivername != "postgresql+psycopg":
        raise ValueError(f"expected a postgresql+psycopg:// URL, got {parsed.drivername}://")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def procrastinate_app(conninfo: str, *, max_pool_size: int = 4) -> App:
    """The App the worker runs (tasks are registered by entrypoints.worker), connecting as the
    app role with the same session settings as the service's engine."""
    connector = PsycopgConnector(
        conninfo=libpq_conninfo(conninfo),
        min_size=1,
        max_size=max_pool_size,
        kwargs={"options": session_options()},
    )
    return App(connector=connector)


async def driver_connection(connection: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under a SQLAlchemy one (its transaction is the same)."""
    driver = (await connection.get_raw_connection()).driver_connection
    if not isinstance(driver, psycopg.AsyncConnection):
        raise TypeError("deferring jobs needs the psycopg driver")
    return driver


async def defer(
    connection: AsyncConnection,
    task: str,
    args: dict[str, Any],
    *,
    queue: str,
    schedule_at: datetime | None = None,
    queueing_lock: str | None = None,
    lock: str | None = None,
) -> int:
    """Defer `task(**args)` on `queue` in `connection`'s transaction; the job's id.

    `args` carry ids only (never a secret: job rows are plain). `schedule_at` (aware) delays
    the first run; `queueing_lock` allows one waiting job per value (AlreadyQueued otherwise);
    `lock` runs jobs sharing it one at a time, in order.
    """
    if schedule_at is not None and schedule_at.tzinfo is None:
        raise ValueError("schedule_at must be an aware datetime")
    job = Job(
        id=None,
        queue=queue,
        lock=lock,
        queueing_lock=queueing_lock,
        task_name=task,
        task_kwargs=args,
        scheduled_at=None if schedule_at is None else schedule_at.astimezone(UTC),
    )
    driver = await driver_connection(connection)
    if queueing_lock is None:
        deferred = await _MANAGER.defer_job_async(job, connection=driver)
    else:
        # A conflict would abort the whole transaction: a savepoint keeps it to this insert.
        try:
            async with connection.begin_nested():
                deferred = await _MANAGER.defer_job_async(job, connection=driver)
        except exceptions.AlreadyEnqueued:
            raise AlreadyQueued(queueing_lock) from None
    assert deferred.id is not None
    return deferred.id


async def delete_waiting(connection: AsyncConnection, queueing_lock: str) -> int:
    """Remove the waiting (todo) job holding `queueing_lock`, in `connection`'s transaction;
    how many were removed (0 or 1)."""
    removed = await connection.execute(
        sa.text("DELETE FROM procrastinate_jobs WHERE queueing_lock = :lock AND status = 'todo'"),
        {"lock": queueing_lock},
    )
    return removed.rowcount
