"""A worker killed with SIGKILL mid-job loses nothing: another worker finds it silent, runs the
job again, and the handler's idempotent effect happens once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs_support import eventually, rows
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.jobs import JobRecords, defer
from devservers.postgres import LocalDatabase

CHILD = Path(__file__).with_name("worker_child.py")
SRC = Path(__file__).parents[3] / "src"


class Workers:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self._env, self._logs = env, logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self._logs / f"worker-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, str(CHILD)], env=self._env, stdout=log, stderr=subprocess.STDOUT
        )
        self.started.append(process)
        return process

    def log(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self._logs.glob("worker-*.log")))


@pytest.fixture
def workers(jobs_database: LocalDatabase, kek_file: Path, tmp_path: Path) -> Iterator[Workers]:
    markers = tmp_path / "markers"
    markers.mkdir()
    env = dict(os.environ) | {
        "DATABASE_URL": jobs_database.app_url,
        "KEK_FILE": str(kek_file),
        "JOBS_TEST_MARKERS": str(markers),
        "PYTHONPATH": str(SRC),
    }
    running = Workers(env, tmp_path)
    yield running
    for process in running.started:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_a_worker_killed_mid_job_loses_nothing(
    engine: AsyncEngine, workers: Workers, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    async with engine.begin() as connection:
        job_id = await defer(connection, "record_then_block", {"key": "once"}, queue="maintenance")

    async def status() -> str:
        return (await JobRecords(engine).get(job_id)).status

    async def first_run_blocked() -> bool:
        return (markers / "started-1").exists()

    first = workers.start()
    try:
        await eventually(first_run_blocked, within=60)
    except AssertionError:
        pytest.fail(f"the first worker never ran the job:\n{workers.log()}")
    assert await status() == "doing"

    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL
    assert await status() == "doing"  # nobody acknowledged it: the dead worker still holds it

    (markers / "release").touch()
    second = workers.start()

    async def succeeded() -> bool:
        return await status() == "succeeded"

    try:
        await eventually(succeeded, within=60)
    except AssertionError:
        pytest.fail(f"the job never completed:\n{workers.log()}")

    assert (markers / "started-2").exists()
    runs = await rows(engine, "SELECT attempt FROM test_job_runs ORDER BY seq")
    assert [run.attempt for run in runs] == [1, 2]  # run twice...
    assert await rows(engine, "SELECT key FROM test_job_effects") == [("once",)]  # ...once
    job = await JobRecords(engine).get(job_id)
    assert job.attempts == 2
    assert job.last_error is not None
    assert "stopped heart-beating" in job.last_error

    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 0, workers.log()
