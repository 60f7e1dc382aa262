"""Read replicas with read-your-writes (ADR 34): replication lag, and what routing costs.

Starts its own durable primary (fsync and synchronous_commit on, as in production), Redis, and
a streaming replica of the primary on this machine, loads the demo catalog, then measures:

- lag: from a write's COMMIT returning on the primary to the replica having replayed it
  (polled in a tight loop on the replica: the figure includes one poll's round trip);
- one availability read (`calendar` of one offering, a week), one client, sequentially: on the
  primary without routing; routed for nobody (the replica); routed for a writer whose mark the
  replica has replayed (the mark's Redis GET and the replay check); routed for a writer the
  replica has not caught up with (the replica's answer dropped, then the primary's);
- a one-trip write as a person, without and with its mark (the WAL position asked after
  COMMIT in the same pipeline, and the Redis script).

    PYTHONPATH=src:bench .venv/bin/python bench/replica.py [--reads 2000] [--writes 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import stack
import workload
from redis.asyncio import Redis

from adapters.postgis.bookings.availability_reads import PostgisAvailabilityReads
from adapters.postgis.database import create_engine
from adapters.postgis.one_trip import one_trip
from adapters.postgis.replica import ReplicaReads, reading_as
from adapters.postgis.write_marks import mark_writes
from adapters.redis.write_marks import RedisWriteMarks
from core.shared.ids import UserId
from core.shared.time import TimeRange
from core.shared.unit_of_work import Access
from devservers.net import free_port
from devservers.replica import LocalReplica
from entrypoints.container import Container, build_container
from entrypoints.settings import Settings

PROVIDERS = 200
FAR_AHEAD = 2**62  # a mark no replica has replayed
_LAG_TABLE = "CREATE TABLE IF NOT EXISTS bench_replica_lag (id bigserial PRIMARY KEY)"
_WRITE = ("INSERT INTO bench_replica_lag DEFAULT VALUES", {})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000, help="reads per routing case")
    parser.add_argument("--writes", type=int, default=1000, help="writes per case, and lag samples")
    options = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="reserva-bench-replica-") as workdir,
        _servers(Path(workdir)) as (dbs, replica),
    ):
        results = asyncio.run(_measure(dbs, replica, options.reads, options.writes))
        results["machine"] = stack.machine(dbs)
    print(json.dumps(results, indent=2))
    return 0


@contextlib.contextmanager
def _servers(workdir: Path) -> Iterator[tuple[stack.Databases, LocalReplica]]:
    with stack.databases(workdir, durable=True) as dbs:
        replica = LocalReplica(dbs.postgres, workdir / "replica", free_port())
        try:
            replica.ensure_running()
            yield dbs, replica
        finally:
            replica.stop()


async def _measure(
    dbs: stack.Databases, replica: LocalReplica, reads: int, writes: int
) -> dict[str, Any]:
    replica_url = replica.database("reserva").app_url
    container = build_container(
        Settings(
            database_url=dbs.database_url,
            database_replica_url=replica_url,
            redis_url=dbs.redis.url,
            kek_file=dbs.kek_file,
        )
    )
    try:
        await workload.load_demo(container, PROVIDERS)
        replica.wait_for_primary()
        return {
            "lag_ms": _lag(dbs, replica, writes),
            "read_ms": await _reads(container, dbs, reads),
            "write_ms": await _writes(dbs, writes),
        }
    finally:
        await container.close()


def _lag(dbs: stack.Databases, replica: LocalReplica, samples: int) -> dict[str, float]:
    standby_url = replica.database("reserva").superuser_url.replace("+psycopg", "")
    with (
        psycopg.connect(dbs.owner_url, autocommit=True) as primary,
        psycopg.connect(standby_url, autocommit=True) as standby,
    ):
        primary.execute(_LAG_TABLE)
        replica.wait_for_primary()
        lags = []
        for _ in range(samples):
            primary.execute(_WRITE[0])
            committed = time.perf_counter()
            row = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
            assert row is not None
            while not _replayed(standby, row[0]):
                pass
            lags.append(time.perf_counter() - committed)
    return _summary(lags)


def _replayed(standby: psycopg.Connection[Any], lsn: str) -> bool:
    row = standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()
    return bool(row and row[0])


async def _reads(container: Container, dbs: stack.Databases, count: int) -> dict[str, Any]:
    offering = workload._one_appointment_offering_per_provider(dbs.libpq_url)[0]
    now = container.clock().now()
    window = TimeRange(now + timedelta(days=1), now + timedelta(days=8))
    routed = container.availability_reads()
    direct = PostgisAvailabilityReads(container.bookings_engine())
    marks, writer = container.write_marks(), UserId(uuid.uuid4())
    assert isinstance(marks, RedisWriteMarks)

    async def read(reads: PostgisAvailabilityReads) -> None:
        assert await reads.calendar(offering, window, now) is not None

    async def as_writer() -> None:
        with reading_as(writer):
            await read(routed)

    results = {"primary, no routing": await _timed(lambda: read(direct), count)}
    results["replica, for nobody"] = await _timed(lambda: read(routed), count)
    await marks.note(writer, 1)  # replayed long ago
    results["replica, writer caught up"] = await _timed(as_writer, count)
    await marks.note(writer, FAR_AHEAD)
    results["primary, writer ahead"] = await _timed(as_writer, count)
    replica_reads = container.replica_reads()
    assert isinstance(replica_reads, ReplicaReads)
    return results | {"served": dict(replica_reads.served)}


async def _writes(dbs: stack.Databases, count: int) -> dict[str, Any]:
    owner_url = dbs.owner_url.replace("postgresql://", "postgresql+psycopg://")
    plain = create_engine(owner_url, pool_size=1)
    marked_engine = create_engine(owner_url, pool_size=1)
    client = Redis.from_url(dbs.redis.url)
    marked = mark_writes(marked_engine, RedisWriteMarks(client))
    writer = Access.user(UserId(uuid.uuid4()))
    try:

        async def write(engine: Any) -> None:
            await one_trip(engine, writer, [_WRITE], end="commit")

        return {
            "unmarked": await _timed(lambda: write(plain), count),
            "marked": await _timed(lambda: write(marked), count),
        }
    finally:
        await client.aclose()
        await plain.dispose()
        await marked_engine.dispose()


async def _timed(call: Callable[[], Awaitable[None]], count: int) -> dict[str, float]:
    for _ in range(min(50, count)):  # warm the pool and psycopg's prepared statements
        await call()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return _summary(times)


def _summary(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {
        "n": len(ms),
        "mean": round(statistics.fmean(ms), 3),
        "p50": round(ms[len(ms) // 2], 3),
        "p99": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 3),
        "max": round(ms[-1], 3),
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
