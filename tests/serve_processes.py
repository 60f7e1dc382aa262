"""`reserva serve`'s several-process mode without its development servers: N uvicorn API
processes on one socket and the job process, exactly as serve starts them, with settings from
the environment (`python tests/serve_processes.py PORT WORKERS`). Stops on SIGINT/SIGTERM."""

from __future__ import annotations

import os
import sys

from entrypoints.cli.main import _serve_in_processes
from entrypoints.settings import Settings


def main(port: str, workers: str) -> None:
    settings = Settings.from_env(os.environ)
    _serve_in_processes(settings, "127.0.0.1", int(port), int(workers), concurrency=1)


if __name__ == "__main__":
    main(*sys.argv[1:3])
