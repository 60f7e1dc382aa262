"""`reserva worker` and `reserva jobs list|retry|cancel`: running the job queue and looking
after it. Dead jobs (status failed) are kept with their last error until an operator retries or
cancels them. Like `payments`, this module only receives a runner; `main` mounts it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, TypeVar

import attrs
import typer
from rich.table import Table

from adapters.postgis.jobs import JOBS_QUEUES, STATUSES, JobRecord, JobRecordError, JobRecords
from entrypoints.cli.console import CliError, fail, out, say
from entrypoints.cli.identity import Runner
from entrypoints.http.logging import configure_logging
from entrypoints.worker import run_worker

T = TypeVar("T")
U = TypeVar("U")

MAX_CONCURRENCY = 100
ERROR_WIDTH = 120  # a table cell; `jobs list --task T --status failed` then shows one job


def _job_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise CliError(f"{text!r} is not a job id (a positive whole number, see `jobs list`)")
    return int(text)


def _queues(names: Sequence[str] | None) -> tuple[str, ...] | None:
    if not names:
        return None
    unknown = sorted(set(names) - set(JOBS_QUEUES))
    if unknown:
        raise CliError(f"unknown queue {', '.join(unknown)}: one of {', '.join(JOBS_QUEUES)}")
    return tuple(dict.fromkeys(names))


def _status(text: str | None) -> str | None:
    if text is not None and text not in STATUSES:
        raise CliError(f"unknown status {text!r}: one of {', '.join(STATUSES)}")
    return text


def _short(text: str | None, width: int = ERROR_WIDTH) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def jobs_table(jobs: Sequence[JobRecord]) -> Table:
    table = Table("id", "task", "queue", "status", "runs", "scheduled (UTC)", "args", "last error")
    for job in jobs:
        table.add_row(
            str(job.id),
            job.task,
            job.queue,
            job.status,
            str(job.attempts),
            "" if job.scheduled_at is None else job.scheduled_at.strftime("%Y-%m-%d %H:%M:%S"),
            json.dumps(dict(job.args), sort_keys=True),
            _short(job.last_error),
        )
    return table


def _or_fail(parse: Callable[[T], U], text: T) -> U:
    """An operator's input, parsed before anything connects; else one line and exit 1."""
    try:
        return parse(text)
    except CliError as error:
        fail(str(error))


def _records(container: Any) -> JobRecords:
    return JobRecords(container.engine())


async def _checked(work: Awaitable[Any]) -> Any:
    try:
        return await work
    except JobRecordError as error:
        raise CliError(str(error)) from None


@attrs.frozen
class JobCommands:
    run: Runner

    def worker(
        self,
        concurrency: Annotated[
            int | None,
            typer.Option(
                min=1, max=MAX_CONCURRENCY, help="Jobs run at once (WORKER_CONCURRENCY: 4)."
            ),
        ] = None,
        queue: Annotated[
            list[str] | None,
            typer.Option(help=f"Only this queue (repeatable): {', '.join(JOBS_QUEUES)}."),
        ] = None,
    ) -> None:
        """Run jobs until stopped (Ctrl-C or SIGTERM: running jobs finish first)."""
        queues = _or_fail(_queues, queue)

        async def work(container: Any) -> None:
            configure_logging()  # JSON lines on stderr, personal data redacted (as the API)
            at_once = concurrency or int(container.config.worker_concurrency())
            say(f"worker: {at_once} at once, queues {', '.join(queues or JOBS_QUEUES)}")
            await run_worker(container, at_once, queues)

        self.run(work)

    def list_jobs(
        self,
        status: Annotated[
            str | None, typer.Option(help=f"Only jobs in this status: {', '.join(STATUSES)}.")
        ] = None,
        task: Annotated[str | None, typer.Option(help="Only jobs of this task.")] = None,
        limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 50,
        before: Annotated[int | None, typer.Option(min=1, help="Continue below this id.")] = None,
    ) -> None:
        """List jobs, newest first, with their last error (dead jobs: --status failed)."""

        chosen = _or_fail(_status, status)

        async def found(container: Any) -> Sequence[JobRecord]:
            listed: Sequence[JobRecord] = await _checked(
                _records(container).list(status=chosen, task=task, before=before, limit=limit)
            )
            return listed

        jobs = self.run(found)
        out.print(jobs_table(jobs))
        if len(jobs) == limit:
            say(f"more: --before {jobs[-1].id}")

    def retry(self, job: Annotated[str, typer.Argument(help="Job id (see `jobs list`).")]) -> None:
        """Run a dead (failed) job again, now."""

        job_id = _or_fail(_job_id, job)

        async def retry(container: Any) -> JobRecord:
            done: JobRecord = await _checked(_records(container).retry(job_id))
            return done

        out.print(jobs_table([self.run(retry)]))

    def cancel(self, job: Annotated[str, typer.Argument(help="Job id (see `jobs list`).")]) -> None:
        """Cancel a waiting (todo) job, or put a dead (failed) one aside."""

        job_id = _or_fail(_job_id, job)

        async def cancel(container: Any) -> JobRecord:
            done: JobRecord = await _checked(_records(container).cancel(job_id))
            return done

        out.print(jobs_table([self.run(cancel)]))


def mount(app: typer.Typer, run: Runner) -> None:
    """Add `worker` and `jobs list|retry|cancel` to the CLI, on the containers `run` builds."""
    commands = JobCommands(run)
    app.command("worker")(commands.worker)
    jobs = typer.Typer(help="The job queue: dead jobs, retries.", no_args_is_help=True)
    jobs.command("list")(commands.list_jobs)
    jobs.command("retry")(commands.retry)
    jobs.command("cancel")(commands.cancel)
    app.add_typer(jobs, name="jobs")
