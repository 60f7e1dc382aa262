"""`reserva dev stop`: stop the private PostgreSQL and Redis that `reserva serve` started in
./.data (RESERVA_DATA_DIR) and left running, so the next `serve` starts at once.

Only servers of that data dir are stopped: PostgreSQL through its own data directory
(`pg_ctl stop`), Redis only when the process answering on RESERVA_REDIS_PORT is the one whose
pid file lies in ./.data/redis (never somebody else's Redis on that port). Their data stays:
the next `serve` starts them again with it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import typer

from entrypoints.cli.console import out
from entrypoints.cli.environment import LocalServers

T = TypeVar("T")
Guarded = Callable[[Callable[[], T]], T]

STOP_HINT = "stop them with `reserva dev stop` (or `./dev.sh stop`)"


def stop_local_servers() -> list[str]:
    """Stop this checkout's local servers; one line per server saying what happened."""
    local = LocalServers.from_env(os.environ)
    postgres, redis = local.postgres, local.redis
    lines = []
    if postgres.is_running():
        postgres.stop()
        lines.append(f"stopped PostgreSQL in {postgres.data_dir}")
    else:
        lines.append(f"PostgreSQL in {postgres.data_dir} was not running")
    if redis.is_running():
        redis.stop()
        lines.append(f"stopped Redis on port {redis.port}")
    else:
        lines.append(f"no Redis of {local.data_dir} was running on port {redis.port}")
    return lines


def mount(app: typer.Typer, guarded: Guarded[list[str]]) -> None:
    """Add `dev stop` to the CLI; `guarded` turns failures into one line and exit status 1."""
    dev = typer.Typer(help="The local development servers in ./.data.", no_args_is_help=True)

    @dev.command("stop")
    def stop() -> None:
        """Stop the local PostgreSQL and Redis that `reserva serve` left running."""
        for line in guarded(stop_local_servers):
            out.print(line)

    app.add_typer(dev, name="dev")
