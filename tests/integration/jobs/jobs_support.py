"""Helpers of the job queue tests: raw reads, and the test handlers the workers run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from entrypoints.worker import current_job


async def rows(engine: AsyncEngine, statement: str, **values: Any) -> list[sa.Row[Any]]:
    async with engine.connect() as connection:
        return list(await connection.execute(sa.text(statement), values))


async def job_rows(engine: AsyncEngine) -> list[sa.Row[Any]]:
    return await rows(
        engine,
        "SELECT id, task_name, queue_name, args, status::text AS status, attempts,"
        " scheduled_at, queueing_lock FROM procrastinate_jobs ORDER BY id",
    )


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 20.0, every: float = 0.1
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within} s: {check.__name__}")
        await asyncio.sleep(every)


async def record_effect(container: Any, key: str) -> None:
    """An idempotent effect: the first run inserts the key, any later run changes nothing;
    every run is counted in test_job_runs."""
    run = current_job()
    async with container.engine().begin() as connection:
        await connection.execute(
            sa.text("INSERT INTO test_job_runs (key, attempt) VALUES (:key, :attempt)"),
            {"key": key, "attempt": run.attempt},
        )
        await connection.execute(
            sa.text("INSERT INTO test_job_effects (key) VALUES (:key) ON CONFLICT DO NOTHING"),
            {"key": key},
        )
