"""The worker: procrastinate running our task handlers on the container's use cases.

Handlers come from a table `{task name: handler(container, args)}` (`handlers.HANDLERS`, filled
by the composition of each context); each is registered as a procrastinate task with its queue
and retry policy (adapters.postgis.jobs.tasks). A handler raises for what a retry may fix; the
error's text is kept as the job's last error (procrastinate keeps only the status), and the run
knows whether it is the last one allowed (`current_job()`), e.g. to mark a message FAILED.

A worker killed mid-job (SIGKILL, a lost machine) stops heart-beating; any other worker puts its
jobs back to `todo` once it has been silent for `stalled_after`, at start and then every
`recover_every`. Handlers are idempotent, so a job that runs twice has its effect once.

`run_worker` is `reserva worker`; `start_in_process_worker` is the one `reserva serve` runs
beside the API in development.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from procrastinate import App, JobContext

from adapters.postgis.jobs import (
    BackOff,
    JobRecords,
    procrastinate_app,
    queue_of,
    retry_policy,
)
from entrypoints.metrics import count_job_failure
from entrypoints.observability import init_sentry, request_bound
from entrypoints.worker.registry import _CURRENT, Handler, JobRun, PeriodicTask, current_job

_log = logging.getLogger("reserva.worker")


@attrs.frozen(kw_only=True)
class WorkerOptions:
    concurrency: int = 4
    queues: tuple[str, ...] | None = None  # None: every queue
    heartbeat: timedelta = timedelta(seconds=10)
    stalled_after: timedelta = timedelta(seconds=60)  # several missed heartbeats
    recover_every: timedelta = timedelta(seconds=30)
    poll_every: timedelta = timedelta(seconds=5)  # besides LISTEN/NOTIFY, which wakes it at once
    # On SIGTERM, running jobs get this long to finish; then they are cancelled and retried.
    graceful: timedelta = timedelta(seconds=30)
    name: str = "reserva-worker"


def _database_url(container: Any) -> str:
    """Past a transaction pooler when there is one: the worker LISTENs (docs/adr/0035)."""
    direct: str | None = container.config.database_direct_url()
    url: str = direct or container.config.database_url()
    return url


def _task(
    container: Any, records: JobRecords, name: str, handler: Handler, policy: BackOff
) -> Callable[..., Awaitable[None]]:
    async def run(context: JobContext, **args: Any) -> None:
        job = context.job
        assert job.id is not None
        run = JobRun(
            id=job.id, task=name, attempt=job.attempts + 1, last=policy.is_last(job.attempts)
        )
        token = _CURRENT.set(run)
        # observe (issue 12): the request that deferred the job (migration 0024) is this run's
        # too: its logs, error reports and what it writes carry it.
        request_id = args.pop(REQUEST_ID_ARG, None)
        try:
            with request_bound(request_id if isinstance(request_id, str) else None):
                await handler(container, args)
        except Exception as error:
            count_job_failure(name)
            try:
                await records.record_failure(job.id, name, run.attempt, error, datetime.now(UTC))
            except Exception:  # the database is gone too: the status still says failed
                _log.exception("could not record the failure of job %s", job.id)
            raise
        finally:
            _CURRENT.reset(token)

    run.__name__ = name
    return run


REQUEST_ID_ARG = "request_id"  # the job argument migration 0024 adds


def _report_errors(container: Any) -> None:
    dsn = container.config.sentry_dsn()
    environment = container.config.sentry_environment() or "production"
    init_sentry(None if dsn is None else dsn.get_secret_value(), environment=environment)


def build_app(
    container: Any,
    handlers: Mapping[str, Handler],
    *,
    policies: Mapping[str, BackOff] | None = None,
    periodic: Mapping[str, PeriodicTask] | None = None,
    max_pool_size: int = 4,
) -> App:
    """A procrastinate App with every handler registered under its task name."""
    app = procrastinate_app(_database_url(container), max_pool_size=max_pool_size)
    records = JobRecords(container.engine())
    chosen = dict(policies or {})
    for name, handler in handlers.items():
        policy = chosen.get(name, retry_policy(name))
        app.task(name=name, queue=queue_of(name), retry=policy, pass_context=True)(
            _task(container, records, name, handler, policy)
        )
    for name, task in (periodic or {}).items():
        policy = chosen.get(name, retry_policy(name))
        registered = app.task(name=name, queue=task.queue, retry=policy, pass_context=True)(
            _task(container, records, name, task.handler, policy)
        )
        app.periodic(cron=task.cron)(registered)
    return app


async def recover_forever(records: JobRecords, options: WorkerOptions) -> None:
    """Every `recover_every`, put back the jobs of workers silent for `stalled_after`."""
    while True:
        try:
            recovered = await records.recover_stalled(options.stalled_after)
        except Exception:  # the database is away: try again next round
            _log.exception("recovering stalled jobs failed; retrying next round")
        else:
            if recovered:
                _log.warning("jobs of a dead worker put back to run: %s", recovered)
        await asyncio.sleep(options.recover_every.total_seconds())


async def run_worker(
    container: Any,
    concurrency: int = 4,
    queues: Iterable[str] | None = None,
    *,
    handlers: Mapping[str, Handler] | None = None,
    periodic: Mapping[str, PeriodicTask] | None = None,
    policies: Mapping[str, BackOff] | None = None,
    options: WorkerOptions | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Run jobs until stopped (SIGINT/SIGTERM, or cancelled): `reserva worker`."""
    if handlers is None:
        from entrypoints.worker.handlers import HANDLERS, PERIODIC

        handlers, periodic = HANDLERS, PERIODIC if periodic is None else periodic
    chosen = attrs.evolve(
        options or WorkerOptions(),
        concurrency=concurrency,
        queues=None if queues is None else tuple(queues),
    )
    _report_errors(container)  # observe (issue 12)
    app = build_app(
        container,
        handlers,
        policies=policies,
        periodic=periodic,
        max_pool_size=chosen.concurrency + 2,
    )
    records = JobRecords(container.engine())
    async with app.open_async():
        recovering = asyncio.create_task(recover_forever(records, chosen))
        try:
            await app.run_worker_async(
                # A list (psycopg sends a tuple as a record); None means every queue.
                queues=None if chosen.queues is None else list(chosen.queues),  # type: ignore[arg-type]
                concurrency=chosen.concurrency,
                name=chosen.name,
                update_heartbeat_interval=chosen.heartbeat.total_seconds(),
                stalled_worker_timeout=chosen.stalled_after.total_seconds(),
                fetch_job_polling_interval=chosen.poll_every.total_seconds(),
                shutdown_graceful_timeout=chosen.graceful.total_seconds(),
                install_signal_handlers=install_signal_handlers,
            )
        finally:
            recovering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovering


@attrs.define
class InProcessWorker:
    """A worker running as a task of the caller's event loop (`reserva serve`)."""

    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Stop fetching, let running jobs finish (or cancel them after the grace time)."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def start_in_process_worker(
    container: Any,
    concurrency: int = 2,
    queues: Iterable[str] | None = None,
    *,
    handlers: Mapping[str, Handler] | None = None,
    periodic: Mapping[str, PeriodicTask] | None = None,
    policies: Mapping[str, BackOff] | None = None,
    options: WorkerOptions | None = None,
) -> InProcessWorker:
    """Start a worker beside the API in this event loop; `await worker.stop()` on shutdown.
    The server owns the signals, so the worker installs no handlers of its own."""
    task = asyncio.create_task(
        run_worker(
            container,
            concurrency,
            queues,
            handlers=handlers,
            periodic=periodic,
            policies=policies,
            options=options,
            install_signal_handlers=False,
        ),
        name="in-process worker",
    )
    return InProcessWorker(task)


__all__ = [
    "Handler",
    "InProcessWorker",
    "JobRun",
    "PeriodicTask",
    "WorkerOptions",
    "build_app",
    "current_job",
    "recover_forever",
    "run_worker",
    "start_in_process_worker",
]
