"""The worker runs the handlers table: successes, retries with back-off until a job is dead and
listed with its last error, operators' retry and cancel, and the recovery of a dead worker's
jobs."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from jobs_support import eventually, job_rows, record_effect, rows
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.jobs import (
    BackOff,
    JobNotFound,
    JobRecordError,
    JobRecords,
    WrongStatus,
    defer,
)
from adapters.postgis.retention import PostgisRetentionStore
from core.consent.retention import DataClass
from entrypoints.container import Container
from entrypoints.worker import (
    InProcessWorker,
    JobRun,
    PeriodicTask,
    WorkerOptions,
    current_job,
    start_in_process_worker,
)

FAST = WorkerOptions(
    concurrency=2,
    heartbeat=timedelta(seconds=0.5),
    stalled_after=timedelta(seconds=2),
    recover_every=timedelta(seconds=0.5),
    poll_every=timedelta(seconds=0.2),
    graceful=timedelta(seconds=2),
)
SECOND = timedelta(seconds=1)
THREE_RUNS = BackOff(first=SECOND, ceiling=SECOND, runs=3)

seen: list[JobRun] = []
fixed: set[str] = set()


async def succeed(container: Any, args: dict[str, Any]) -> None:
    seen.append(current_job())
    await record_effect(container, args["key"])


async def fail_until_fixed(container: Any, args: dict[str, Any]) -> None:
    run = current_job()
    seen.append(run)
    if args["key"] not in fixed:
        raise RuntimeError(f"provider said no (run {run.attempt})")
    await record_effect(container, args["key"])


HANDLERS = {"succeed": succeed, "fail_until_fixed": fail_until_fixed}


@pytest.fixture
async def worker(container: Container) -> AsyncIterator[InProcessWorker]:
    seen.clear()
    fixed.clear()
    running = start_in_process_worker(
        container,
        handlers=HANDLERS,
        policies={"fail_until_fixed": THREE_RUNS},
        options=FAST,
    )
    yield running
    await running.stop()


async def _defer(engine: AsyncEngine, task: str, key: str) -> int:
    async with engine.begin() as connection:
        return await defer(connection, task, {"key": key}, queue="maintenance")


async def _status(engine: AsyncEngine, job_id: int) -> str:
    [row] = await rows(
        engine, "SELECT status::text FROM procrastinate_jobs WHERE id = :id", id=job_id
    )
    return str(row.status)


async def test_a_deferred_job_runs_once_and_succeeds(
    engine: AsyncEngine, worker: InProcessWorker
) -> None:
    job_id = await _defer(engine, "succeed", "k1")

    async def succeeded() -> bool:
        return await _status(engine, job_id) == "succeeded"

    await eventually(succeeded)
    assert await rows(engine, "SELECT key FROM test_job_effects") == [("k1",)]
    assert seen == [JobRun(id=job_id, task="succeed", attempt=1, last=False)]


async def test_a_failing_job_is_retried_with_back_off_then_dead_with_its_last_error(
    engine: AsyncEngine, worker: InProcessWorker
) -> None:
    job_id = await _defer(engine, "fail_until_fixed", "k2")

    async def failed() -> bool:
        return await _status(engine, job_id) == "failed"

    await eventually(failed)
    assert [(run.attempt, run.last) for run in seen] == [(1, False), (2, False), (3, True)]
    started = [
        row.at
        for row in await rows(
            engine,
            "SELECT at FROM procrastinate_events WHERE job_id = :id AND type = 'started'"
            " ORDER BY at",
            id=job_id,
        )
    ]
    assert len(started) == 3
    assert all(later - earlier >= SECOND for earlier, later in itertools.pairwise(started))

    [dead] = await JobRecords(engine).list(status="failed")
    assert (dead.id, dead.task, dead.attempts) == (job_id, "fail_until_fixed", 3)
    assert dead.last_error == "RuntimeError: provider said no (run 3)"
    assert dead.failed_at is not None
    assert await rows(engine, "SELECT key FROM test_job_effects") == []


async def test_a_dead_job_retried_by_an_operator_runs_again(
    engine: AsyncEngine, worker: InProcessWorker
) -> None:
    records = JobRecords(engine)
    job_id = await _defer(engine, "fail_until_fixed", "k3")

    async def status_is(wanted: str) -> bool:
        return await _status(engine, job_id) == wanted

    async def failed() -> bool:
        return await status_is("failed")

    async def succeeded() -> bool:
        return await status_is("succeeded")

    await eventually(failed)
    fixed.add("k3")
    retried = await records.retry(job_id)
    assert retried.status in ("todo", "doing", "succeeded")

    await eventually(succeeded)
    assert await rows(engine, "SELECT key FROM test_job_effects") == [("k3",)]
    assert seen[-1].attempt == 4
    with pytest.raises(WrongStatus, match="only failed jobs can be retried"):
        await records.retry(job_id)


async def test_operators_cancel_waiting_and_dead_jobs_only(engine: AsyncEngine) -> None:
    records = JobRecords(engine)
    waiting = await _defer(engine, "succeed", "k4")
    assert (await records.cancel(waiting)).status == "cancelled"
    with pytest.raises(WrongStatus, match="cancelled: only todo or failed"):
        await records.cancel(waiting)
    with pytest.raises(JobNotFound, match="no job 999999"):
        await records.cancel(999_999)
    with pytest.raises(JobNotFound):
        await records.retry(999_999)
    with pytest.raises(JobRecordError, match="unknown status"):
        await records.list(status="sleeping")

    dead = await _defer(engine, "succeed", "k5")
    async with engine.begin() as connection:
        await connection.execute(
            sa.text("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = :id"), {"id": dead}
        )
    assert (await records.cancel(dead)).status == "cancelled"
    assert await records.list(status="failed") == []


async def test_jobs_are_listed_newest_first_by_status_and_task(engine: AsyncEngine) -> None:
    records = JobRecords(engine)
    first = await _defer(engine, "succeed", "a")
    second = await _defer(engine, "fail_until_fixed", "b")
    third = await _defer(engine, "succeed", "c")

    assert [job.id for job in await records.list()] == [third, second, first]
    assert [job.id for job in await records.list(task="succeed")] == [third, first]
    assert [job.id for job in await records.list(status="todo", limit=1)] == [third]
    assert [job.id for job in await records.list(before=third)] == [second, first]
    assert await records.list(status="doing") == []


async def test_the_jobs_of_a_silent_worker_go_back_to_run_and_a_live_workers_stay(
    engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    orphan = await _defer(engine, "succeed", "orphan")
    kept = await _defer(engine, "succeed", "kept")
    async with owner_engine.begin() as connection:
        dead, live = (
            (
                await connection.execute(
                    sa.text(
                        "INSERT INTO procrastinate_workers (last_heartbeat)"
                        " VALUES (now() - interval '1 hour') RETURNING id"
                    )
                )
            ).scalar_one(),
            (
                await connection.execute(
                    sa.text("INSERT INTO procrastinate_workers DEFAULT VALUES RETURNING id")
                )
            ).scalar_one(),
        )
        for job_id, worker_id in ((orphan, dead), (kept, live)):
            await connection.execute(
                sa.text(
                    "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w WHERE id = :id"
                ),
                {"w": worker_id, "id": job_id},
            )

    records = JobRecords(engine)
    assert await records.recover_stalled(timedelta(seconds=30)) == [orphan]
    assert await records.recover_stalled(timedelta(seconds=30)) == []

    by_id = {job.id: job for job in await job_rows(engine)}
    assert (by_id[orphan].status, by_id[orphan].attempts) == ("todo", 1)
    assert (by_id[kept].status, by_id[kept].attempts) == ("doing", 0)
    recovered = await records.get(orphan)
    assert recovered.last_error is not None
    assert "stopped heart-beating" in recovered.last_error
    workers = await rows(engine, "SELECT id FROM procrastinate_workers")
    assert [row.id for row in workers] == [live]  # the silent one is pruned


async def tick(container: Any, args: dict[str, Any]) -> None:
    await record_effect(container, f"tick-{args['timestamp']}")


async def test_periodic_tasks_are_deferred_and_run_by_the_worker(
    engine: AsyncEngine, container: Container
) -> None:
    running = start_in_process_worker(
        container,
        handlers={},
        periodic={"tick": PeriodicTask(cron="* * * * * *", handler=tick)},  # every second
        options=FAST,
    )

    async def ticked() -> bool:
        return bool(await rows(engine, "SELECT key FROM test_job_effects"))

    try:
        await eventually(ticked, within=15)
    finally:
        await running.stop()
    [job, *_] = await job_rows(engine)
    assert (job.task_name, job.queue_name) == ("tick", "maintenance")


async def test_finished_jobs_are_removed_after_their_keep_and_dead_ones_stay(
    engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    """The retention table's finished jobs (7 days) and dead jobs (90 days)."""
    ids = {name: await _defer(engine, "succeed", name) for name in ("ok", "off", "dead", "new")}
    async with owner_engine.begin() as connection:
        for name, status in (("ok", "succeeded"), ("off", "cancelled"), ("dead", "failed")):
            await connection.execute(
                sa.text("UPDATE procrastinate_jobs SET status = :s WHERE id = :id"),
                {"s": status, "id": ids[name]},
            )
        await connection.execute(
            sa.text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :id"),
            {"id": ids["new"]},
        )
        await connection.execute(
            sa.text(
                "UPDATE procrastinate_events SET at = now() - interval '8 days'"
                " WHERE job_id = ANY(:old)"
            ),
            {"old": [ids["ok"], ids["off"], ids["dead"]]},
        )
    store, now = PostgisRetentionStore(engine), datetime.now(UTC)

    removed = await store.sweep(DataClass.FINISHED_JOBS, now - timedelta(days=7), 100)
    dead_removed = await store.sweep(DataClass.DEAD_JOBS, now - timedelta(days=90), 100)

    assert (removed, dead_removed) == (2, 0)
    left = {job.id for job in await JobRecords(engine).list()}
    assert left == {ids["dead"], ids["new"]}
