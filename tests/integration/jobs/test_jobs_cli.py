"""`reserva jobs list|retry|cancel` and `reserva worker`, mounted as `main` mounts them, through
typer's CliRunner on the production container: bad input fails with one line and exit 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner, Result

from devservers.postgres import LocalDatabase
from entrypoints.cli import jobs
from entrypoints.cli.main import _run

runner = CliRunner()
cli = typer.Typer()
jobs.mount(cli, _run)


@pytest.fixture
def reserva(jobs_database: LocalDatabase, kek_file: Path, engine: AsyncEngine) -> CliRunnerCall:
    return CliRunnerCall(jobs_database.app_url, kek_file)


class CliRunnerCall:
    def __init__(self, database_url: str, kek_file: Path) -> None:
        self.url = database_url
        self._env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "KEK_FILE": str(kek_file),
            "COLUMNS": "250",
        }

    def __call__(self, *args: str) -> Result:
        return runner.invoke(cli, list(args), env=self._env)


def assert_failed_with(result: Result, words: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.output


def _sql(url: str, statement: str, **values: object) -> list[sa.Row[Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(sa.text(statement), values)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _job(url: str, task: str, queue: str, status: str = "todo") -> int:
    [row] = _sql(
        url,
        "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, NULL, NULL,"
        " '{}'::jsonb, NULL)::procrastinate_job_to_defer_v1])) AS id",
        queue=queue,
        task=task,
    )
    if status != "todo":
        _sql(
            url,
            "UPDATE procrastinate_jobs SET status = :s, attempts = 3 WHERE id = :id",
            s=status,
            id=row.id,
        )
    return int(row.id)


def _dead_job(url: str, error: str) -> int:
    job_id = _job(url, "send_message", "messages", "failed")
    _sql(
        url,
        "INSERT INTO job_failures (job_id, task_name, attempt, error, failed_at)"
        " VALUES (:id, 'send_message', 3, :error, now())",
        id=job_id,
        error=error,
    )
    return job_id


def _status(url: str, job_id: int) -> str:
    [row] = _sql(url, "SELECT status::text FROM procrastinate_jobs WHERE id = :i", i=job_id)
    return str(row.status)


def test_dead_jobs_are_listed_with_their_last_error(reserva: CliRunnerCall) -> None:
    dead = _dead_job(reserva.url, "SendFailedTemporarily: 503 from SendGrid")
    waiting = _job(reserva.url, "dispatch_event", "events")

    listed = reserva("jobs", "list", "--status", "failed")
    assert listed.exit_code == 0, listed.output
    assert str(dead) in listed.stdout
    assert "SendFailedTemporarily: 503 from SendGrid" in listed.stdout
    assert "dispatch_event" not in listed.stdout

    everything = reserva("jobs", "list")
    assert everything.stdout.index(str(waiting)) < everything.stdout.index("send_message")
    by_task = reserva("jobs", "list", "--task", "dispatch_event")
    assert "send_message" not in by_task.stdout
    assert "dispatch_event" in by_task.stdout


def test_retry_and_cancel_from_the_command_line(reserva: CliRunnerCall) -> None:
    dead = _dead_job(reserva.url, "boom")
    retried = reserva("jobs", "retry", str(dead))
    assert retried.exit_code == 0, retried.output
    assert _status(reserva.url, dead) == "todo"

    cancelled = reserva("jobs", "cancel", str(dead))
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelled" in cancelled.stdout
    assert _status(reserva.url, dead) == "cancelled"

    assert_failed_with(reserva("jobs", "retry", str(dead)), "only failed jobs can be retried")
    assert_failed_with(reserva("jobs", "cancel", str(dead)), "only todo or failed jobs")


def test_bad_input_fails_clearly(reserva: CliRunnerCall) -> None:
    assert_failed_with(reserva("jobs", "retry", "abc"), "'abc' is not a job id")
    assert_failed_with(reserva("jobs", "cancel", "0"), "'0' is not a job id")
    assert_failed_with(reserva("jobs", "retry", "424242"), "no job 424242")
    assert_failed_with(reserva("jobs", "list", "--status", "sleeping"), "unknown status")
    assert_failed_with(reserva("worker", "--queue", "nope"), "unknown queue nope")
    zero = reserva("worker", "--concurrency", "0")
    assert zero.exit_code == 2
    assert "Traceback" not in zero.output
