"""A real worker process for the SIGKILL test: `python worker_child.py`, configured by the
environment (DATABASE_URL, KEK_FILE, JOBS_TEST_MARKERS), with one test handler that records its
idempotent effect, leaves a marker and then blocks until the test releases it."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from jobs_support import record_effect  # beside this script, on its sys.path

from entrypoints.container import build_container
from entrypoints.settings import Settings
from entrypoints.worker import WorkerOptions, current_job, run_worker

MARKERS = Path(os.environ["JOBS_TEST_MARKERS"])
# Short heartbeats, so a killed worker is found silent within seconds.
OPTIONS = WorkerOptions(
    heartbeat=timedelta(seconds=0.5),
    stalled_after=timedelta(seconds=2),
    recover_every=timedelta(seconds=0.5),
    poll_every=timedelta(seconds=0.2),
    graceful=timedelta(seconds=5),
)


async def record_then_block(container: Any, args: dict[str, Any]) -> None:
    await record_effect(container, args["key"])  # the effect is done, the job not acked yet
    (MARKERS / f"started-{current_job().attempt}").write_text(str(os.getpid()))
    while not (MARKERS / "release").exists():  # noqa: ASYNC110  (another process makes it)
        await asyncio.sleep(0.05)


async def main() -> None:
    settings = Settings.from_env(os.environ | {"REDIS_URL": "redis://127.0.0.1:1/0"})
    container = build_container(settings)
    try:
        await run_worker(
            container,
            1,
            ["maintenance"],
            handlers={"record_then_block": record_then_block},
            options=OPTIONS,
        )
    finally:
        await container.close()


if __name__ == "__main__":
    asyncio.run(main())
