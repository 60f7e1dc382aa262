"""What PgBouncer in transaction mode costs and buys (issue 12, docs/adr/0035).

    PYTHONPATH=src .venv/bin/python bench/pgbouncer.py [--seconds 8] [--scale 10]

Starts a private PostgreSQL (durability off) and a private PgBouncer (transaction mode, 8
server connections), initialises pgbench's tables, then runs pgbench's TPC-B-like transaction
(5 statements) for `--seconds` each: direct with prepared statements (what psycopg does by
default), direct and through PgBouncer without them (what DATABASE_TRANSACTION_POOLER makes
psycopg do), at 8 clients and at 256 clients (many API processes' pools at once). Prints one
JSON document; docs/benchmarks.md keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from devservers.net import free_port
from devservers.pgbouncer import LocalPgBouncer
from devservers.postgres import SUPERUSER, LocalPostgres

SERVER_CONNECTIONS = 8
RUNS = (  # (label, through PgBouncer, pgbench query mode, clients)
    ("direct, prepared", False, "prepared", 8),
    ("direct, not prepared", False, "extended", 8),
    ("PgBouncer, not prepared", True, "extended", 8),
    ("direct, not prepared", False, "extended", 256),
    ("PgBouncer, not prepared", True, "extended", 256),
)


def pgbench() -> str:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))
    if not found:
        raise SystemExit("pgbench not found: apt-get install postgresql-client")
    return str(found[-1])


def run(binary: str, port: int, mode: str, clients: int, seconds: int) -> dict[str, Any]:
    argv = [binary, "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER, "-n"]
    argv += ["-M", mode, "-c", str(clients), "-j", "2", "-T", str(seconds), "bench"]
    started = time.monotonic()
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    latency = re.search(r"latency average = ([0-9.]+) ms", done.stdout)
    failed = re.search(r"number of failed transactions: ([0-9]+)", done.stdout)
    return {
        "tps": float(tps.group(1)) if tps else None,
        "latency_ms": float(latency.group(1)) if latency else None,
        "failed": int(failed.group(1)) if failed else 0,
        "wall_s": round(time.monotonic() - started, 1),
    }


def backends(postgres_port: int) -> int:
    argv = ["psql", "-h", "127.0.0.1", "-p", str(postgres_port), "-U", SUPERUSER, "-At"]
    argv += ["-c", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bench'", "postgres"]
    return int(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)


def main(seconds: int, scale: int) -> dict[str, Any]:
    binary = pgbench()
    workdir = Path(tempfile.mkdtemp(prefix="reserva-bench-pgbouncer-"))
    postgres = LocalPostgres(workdir / "pg", free_port(), durable=False)
    bouncer = LocalPgBouncer(
        free_port(), workdir / "bouncer", postgres.port, pool_size=SERVER_CONNECTIONS
    )
    try:
        postgres.ensure_running()
        connect = ["-h", "127.0.0.1", "-p", str(postgres.port), "-U", SUPERUSER]
        initialise = [binary, *connect, "-i", "-q", "-s", str(scale), "postgres"]
        subprocess.run(initialise, check=True, capture_output=True)
        copy = ["psql", *connect, "-c", "CREATE DATABASE bench TEMPLATE postgres", "postgres"]
        subprocess.run(copy, check=True, capture_output=True)
        bouncer.ensure_running()
        results = []
        for label, pooled, mode, clients in RUNS:
            port = bouncer.port if pooled else postgres.port
            figures = run(binary, port, mode, clients, seconds)
            results.append({"run": label, "clients": clients, **figures})
        return {
            "scenario": f"pgbench TPC-B-like, scale {scale}, {seconds} s a run, 2 threads",
            "pgbouncer_server_connections": SERVER_CONNECTIONS,
            "results": results,
            "backends_after": backends(postgres.port),
        }
    finally:
        bouncer.stop()
        postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--scale", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(main(args.seconds, args.scale), indent=2))
