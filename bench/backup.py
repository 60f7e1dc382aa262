"""How long pgBackRest backups and a point-in-time restore of the private cluster take; Markdown.

    .venv/bin/python bench/backup.py [--rows 1000000] [--changed 0.1] > backup.md

Starts a durable private cluster (fsync on, as `reserva serve` runs it) on the disk under
/tmp, fills a table of `--rows` rows (~110 bytes each) beside the empty schema's extensions,
then through devservers.pgbackrest (encrypted repository, zstd): the first full backup (which also
creates the stanza and switches WAL archiving on), an UPDATE of `--changed` of the rows, an
incremental backup, and a restore into a new cluster to a time between the two (WAL replayed up
to it, promoted, started). Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import psycopg

from devservers.net import free_port
from devservers.pgbackrest import LocalBackups
from devservers.postgres import LocalPostgres

T = TypeVar("T")


def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    done = work()
    return done, time.perf_counter() - started


def megabytes(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MB"


def fill(port: int, rows: int) -> None:
    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="reserva") as conn:
        conn.execute(
            "CREATE TABLE filler (id bigint PRIMARY KEY, at timestamptz NOT NULL, payload text)"
        )
        conn.execute(
            "INSERT INTO filler SELECT i, now(), md5(i::text) || repeat(' booking', 8) "
            "FROM generate_series(1, %s) AS i",
            (rows,),
        )


def change(port: int, share: float) -> None:
    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="reserva") as conn:
        conn.execute("UPDATE filler SET at = now() WHERE id %% %s = 0", (round(1 / share),))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.1, help="share of rows updated")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="reserva-bench-backup-"))
    cluster = LocalPostgres(workdir / "data", free_port())
    restored_port = free_port()
    try:
        cluster.ensure_running()
        _, fill_seconds = timed(lambda: fill(cluster.port, args.rows))
        backups = LocalBackups(cluster, workdir / "backup", workdir / "backup.key")
        full, full_seconds = timed(lambda: backups.backup("full"))
        while datetime.now(UTC) < full.restorable_from:
            time.sleep(0.1)
        _, change_seconds = timed(lambda: change(cluster.port, args.changed))
        target = datetime.now(UTC)
        time.sleep(1)
        change(cluster.port, args.changed)  # after the target: not in the restored copy
        incremental, incr_seconds = timed(lambda: backups.backup("incr"))
        restored, restore_seconds = timed(
            lambda: backups.restore(target, into=workdir / "restored", port=restored_port)
        )
        load = os.getloadavg()[0]
        print(f"rows: {args.rows:,}; changed per UPDATE: {args.changed:.0%}; machine: "
              f"{os.cpu_count()} cores, load average {load:.1f} at the end")  # fmt: skip
        rows = (
            ("fill the table (INSERT, fsync on)", fill_seconds, ""),
            (
                "first full backup (stanza + archiving set up)",
                full_seconds,
                f"{megabytes(full.database_bytes)} → {megabytes(full.repository_bytes)} stored",
            ),
            (f"UPDATE {args.changed:.0%} of the rows", change_seconds, ""),
            (
                "incremental backup after two such UPDATEs",
                incr_seconds,
                f"{megabytes(incremental.added_bytes)} stored",
            ),
            (
                "restore between the UPDATEs into a new cluster (replayed, promoted, started)",
                restore_seconds,
                f"from {restored.backup.label}",
            ),
        )
        print("\n| step | seconds | size |\n|---|---:|---|")
        for step, seconds, size in rows:
            print(f"| {step} | {seconds:.1f} | {size} |")
        LocalPostgres(restored.data_dir, restored.port).stop()
    finally:
        LocalPostgres(workdir / "restored", restored_port).stop()
        cluster.stop()
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
