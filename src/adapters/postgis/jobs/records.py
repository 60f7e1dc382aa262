"""What operators see of the job queue: jobs with their last error, retrying a dead job,
cancelling one, and the recovery of jobs whose worker died.

procrastinate keeps a job's status and attempts but not why it failed: the worker writes each
failure's error text to `job_failures` (migration 0009), one row per job holding the last one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.shared.redaction import redact_personal

STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
MAX_ERROR_CHARS = 2000  # a traceback's last line is what an operator reads; keep rows small


class JobRecordError(Exception):
    """A request on a job that cannot be met; the message says why."""


class JobNotFound(JobRecordError):
    def __init__(self, job_id: int) -> None:
        super().__init__(f"no job {job_id}")


class WrongStatus(JobRecordError):
    def __init__(self, job_id: int, status: str, action: str, allowed: str) -> None:
        super().__init__(f"job {job_id} is {status}: only {allowed} jobs can be {action}")


@attrs.frozen(kw_only=True)
class JobRecord:
    id: int
    task: str
    queue: str
    status: str
    args: Mapping[str, Any]
    attempts: int
    scheduled_at: datetime | None
    last_error: str | None
    failed_at: datetime | None


_COLUMNS = """
    j.id, j.task_name, j.queue_name, j.status::text AS status, j.args, j.attempts,
    j.scheduled_at, f.error, f.failed_at
    FROM procrastinate_jobs j LEFT JOIN job_failures f ON f.job_id = j.id
"""
_LIST = sa.text(
    f"SELECT {_COLUMNS}"
    " WHERE (CAST(:status AS text) IS NULL OR j.status::text = :status)"
    " AND (CAST(:task AS text) IS NULL OR j.task_name = :task)"
    " AND (CAST(:before AS bigint) IS NULL OR j.id < :before)"
    " ORDER BY j.id DESC LIMIT :limit"
)
_ONE = sa.text(f"SELECT {_COLUMNS} WHERE j.id = :id")
_LOCK = sa.text("SELECT status::text FROM procrastinate_jobs WHERE id = :id FOR UPDATE")
# What the insert trigger sends for a new job: a listening worker fetches it at once.
_WAKE = (
    "pg_notify('procrastinate_queue_v1#' || queue_name, json_build_object("
    "'type', 'job_inserted', 'job_id', id)::text),"
    " pg_notify('procrastinate_any_queue_v1', json_build_object("
    "'type', 'job_inserted', 'job_id', id)::text)"
)
# Not procrastinate_retry_job_v2: it counts the retry as an attempt, and the run it allows
# would then be numbered one too high. Its status trigger still records the 'retried' event.
_RETRY = sa.text(
    "UPDATE procrastinate_jobs SET status = 'todo', scheduled_at = now()"
    " WHERE id = :id AND status = 'failed'"
)
_NOTIFY_ONE = sa.text(f"SELECT {_WAKE} FROM procrastinate_jobs WHERE id = :id")  # noqa: S608
_CANCEL_WAITING = sa.text("SELECT procrastinate_cancel_job_v1(:id, false, false)")
_CANCEL_FAILED = sa.text(
    "UPDATE procrastinate_jobs SET status = 'cancelled' WHERE id = :id AND status = 'failed'"
)
_RECORD_FAILURE = sa.text(
    "INSERT INTO job_failures (job_id, task_name, attempt, error, failed_at)"
    " VALUES (:job_id, :task, :attempt, :error, :at)"
    " ON CONFLICT (job_id) DO UPDATE SET task_name = EXCLUDED.task_name,"
    " attempt = EXCLUDED.attempt, error = EXCLUDED.error, failed_at = EXCLUDED.failed_at"
)
# Jobs left `doing` by a worker that stopped heart-beating (killed, or its machine lost): back
# to `todo` in one statement, so a job a live worker fetched meanwhile is never taken from it.
# The run that died counts as an attempt, and its cause is recorded as the job's last error.
_RECOVER = sa.text(
    f"""
    WITH stalled_workers AS (
        SELECT id FROM procrastinate_workers
        WHERE last_heartbeat < now() - make_interval(secs => :seconds)
    ), recovered AS (
        UPDATE procrastinate_jobs AS j
        SET status = 'todo', attempts = j.attempts + 1, scheduled_at = now()
        WHERE j.status = 'doing'
          AND (j.worker_id IS NULL OR j.worker_id IN (SELECT id FROM stalled_workers))
        RETURNING j.id, j.task_name, j.queue_name, j.attempts, j.worker_id
    ), noted AS (
        INSERT INTO job_failures (job_id, task_name, attempt, error, failed_at)
        SELECT id, task_name, attempts,
               'its worker stopped heart-beating (killed or lost); run again', now()
        FROM recovered
        ON CONFLICT (job_id) DO UPDATE SET task_name = EXCLUDED.task_name,
            attempt = EXCLUDED.attempt, error = EXCLUDED.error, failed_at = EXCLUDED.failed_at
    )
    SELECT id, {_WAKE} FROM recovered ORDER BY id
    """  # noqa: S608  (constant fragments only)
)
_PRUNE_WORKERS = sa.text("SELECT procrastinate_prune_stalled_workers_v1(:seconds)")


def _record(row: sa.Row[Any]) -> JobRecord:
    return JobRecord(
        id=row.id,
        task=row.task_name,
        queue=row.queue_name,
        status=row.status,
        args=dict(row.args),
        attempts=row.attempts,
        scheduled_at=None if row.scheduled_at is None else row.scheduled_at.astimezone(UTC),
        last_error=row.error,
        failed_at=None if row.failed_at is None else row.failed_at.astimezone(UTC),
    )


def error_text(error: BaseException) -> str:
    """What is kept of a failure: its type and message, cut to a readable size, without what
    looks like personal data (a provider's refusal may quote the address it refused)."""
    message = redact_personal(str(error).strip())
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


class JobRecords:
    """Over the app role's engine (the migration grants it the queue's tables)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list(
        self,
        *,
        status: str | None = None,
        task: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> Sequence[JobRecord]:
        """Newest first; `before` is the last id of the previous page."""
        if status is not None and status not in STATUSES:
            raise JobRecordError(f"unknown status {status!r}: one of {', '.join(STATUSES)}")
        params = {"status": status, "task": task, "before": before, "limit": limit}
        async with self._engine.connect() as connection:
            rows = await connection.execute(_LIST, params)
            return [_record(row) for row in rows]

    async def get(self, job_id: int) -> JobRecord:
        async with self._engine.connect() as connection:
            row = (await connection.execute(_ONE, {"id": job_id})).first()
        if row is None:
            raise JobNotFound(job_id)
        return _record(row)

    async def retry(self, job_id: int) -> JobRecord:
        """A dead (failed) job back to `todo`, to run now: one more run, kept by its policy."""
        async with self._engine.begin() as connection:
            status = await self._lock(connection, job_id)
            if status != "failed":
                raise WrongStatus(job_id, status, "retried", "failed")
            await connection.execute(_RETRY, {"id": job_id})
            await connection.execute(_NOTIFY_ONE, {"id": job_id})
        return await self.get(job_id)

    async def cancel(self, job_id: int) -> JobRecord:
        """A waiting (todo) job will not run; a dead (failed) one stops being listed as failed."""
        async with self._engine.begin() as connection:
            status = await self._lock(connection, job_id)
            if status == "todo":
                await connection.execute(_CANCEL_WAITING, {"id": job_id})
            elif status == "failed":
                await connection.execute(_CANCEL_FAILED, {"id": job_id})
            else:
                raise WrongStatus(job_id, status, "cancelled", "todo or failed")
        return await self.get(job_id)

    async def record_failure(
        self, job_id: int, task: str, attempt: int, error: BaseException, at: datetime
    ) -> None:
        """Keep `error` as the job's last error (its run number `attempt`, from 1)."""
        params = {
            "job_id": job_id,
            "task": task,
            "attempt": attempt,
            "error": error_text(error),
            "at": at,
        }
        async with self._engine.begin() as connection:
            await connection.execute(_RECORD_FAILURE, params)

    async def recover_stalled(self, stalled_after: timedelta) -> Sequence[int]:
        """Put back to `todo` the jobs of workers silent for `stalled_after`; their ids.
        Any worker may call it at any time: it is one statement, safe to race."""
        seconds = stalled_after.total_seconds()
        async with self._engine.begin() as connection:
            recovered = await connection.execute(_RECOVER, {"seconds": seconds})
            ids = [row.id for row in recovered]
            await connection.execute(_PRUNE_WORKERS, {"seconds": seconds})
        return ids

    @staticmethod
    async def _lock(connection: AsyncConnection, job_id: int) -> str:
        status = (await connection.execute(_LOCK, {"id": job_id})).scalar_one_or_none()
        if status is None:
            raise JobNotFound(job_id)
        return str(status)
