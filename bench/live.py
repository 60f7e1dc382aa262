"""Live availability under 1,000 open subscriptions: events delivered per second and the lag.

    PYTHONPATH=src:bench .venv/bin/python bench/live.py [--subscriptions 1000] [--offerings 20]
        [--rate 50] [--seconds 20] [--workers 2]

Starts private PostGIS and Redis and the production API (`server:app`) under uvicorn with
`--workers` processes (each one a relay contender and a stream reader, as in production).
Opens `--subscriptions` subscriptions, half SSE (`GET /live/offerings/{id}`), half WebSocket
(`/live/offerings/{id}/ws`), spread evenly over `--offerings` offerings, from this process.
Then customers hold slots over HTTP at `--rate` holds per second for `--seconds`, round robin
over the offerings: every hold is one change that its offering's subscribers must hear.

Lag is measured per delivered event from the change itself: the event's `changed_at` (the
database's clock when the trigger queued it, just before commit) to its arrival here (same
machine, same clock), so it covers commit, NOTIFY, the relay, Redis, the API process's reader
and the transport. Prints one JSON document: subscriptions, changes made, events delivered
and expected, delivered per second, lag p50/p90/p99/max in ms, and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from stack import (
    APP,
    Databases,
    api_server,
    databases,
    machine,
    raise_open_files_limit,
    server_kinds,
)
from websockets.asyncio.client import connect

from core.bookings import NewOffering, NewPlace
from core.bookings.model import Address, BookingRules, LocalInterval, OfferingKind, WeeklyRule
from core.identity import ClientContext, TokenPair
from core.shared.ids import UserId
from core.shared.money import Money
from core.shared.principal import Principal, Role
from entrypoints.container import Container, build_container
from entrypoints.settings import Settings

PASSWORD = "plum orbit lantern 77"  # noqa: S105 - throwaway accounts
ADMIN = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)
CUSTOMERS = 8


class Meter:
    """Arrival lags (s) of every event received while measuring. Events are not decoded: the
    client must cost little next to the server on a two-core machine, so it finds the two
    fields it needs in the bytes."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.relayed: list[float] = []  # of which: from the change to the stream (Redis's clock)
        self.measuring = False

    def seen(self, event: bytes) -> None:
        if not self.measuring:
            return
        arrived = time.time()
        changed = datetime.fromisoformat(_field(event, b'"changed_at":"').decode()).timestamp()
        self.lags.append(arrived - changed)
        # The stream id's first part is Redis's clock at XADD, in ms (same machine).
        stream_ms = int(_field(event, b'"id":"').split(b"-")[0])
        self.relayed.append(stream_ms / 1000 - changed)


def _field(event: bytes, key: bytes) -> bytes:
    start = event.index(key) + len(key)
    return event[start : event.index(b'"', start)]


async def seed(container: Container, offerings: int) -> list[uuid.UUID]:
    """`offerings` hourly courts at one place open all day, every day."""
    provider = (await container.create_provider()(ADMIN, "Live bench")).unwrap()
    address = Address(line1="1 Main St", city="Berlin", postal_code="10115", country="DE")
    new_place = NewPlace(
        provider_id=provider.id, name="Hall", address=address, lat=52.5, lng=13.4, timezone="UTC"
    )
    place = (await container.add_place()(ADMIN, new_place)).unwrap()
    hours = [WeeklyRule(weekday=d, interval=LocalInterval(0, 24 * 60)) for d in range(7)]
    (await container.set_opening_hours()(ADMIN, place.id, hours, [])).unwrap()
    rules = BookingRules(duration=timedelta(hours=1), slot_step=timedelta(hours=1))
    ids = []
    for n in range(offerings):
        court = (await container.add_resource()(ADMIN, place.id, f"Court {n}")).unwrap()
        offering = NewOffering(
            place_id=place.id,
            kind=OfferingKind.APPOINTMENT,
            name=f"Court {n}",
            category="tennis",
            price=Money.of(0, "EUR").unwrap(),
            rules=rules,
            resource_ids=(court.id,),
        )
        ids.append((await container.create_offering()(ADMIN, offering)).unwrap().id)
    return ids


async def customers(container: Container, count: int) -> list[str]:
    tokens = []
    for _ in range(count):
        email = f"live-{uuid.uuid4().hex[:8]}@example.com"
        (await container.register()(email=email, password=PASSWORD)).unwrap()
        pair = (
            await container.login()(email=email, password=PASSWORD, client=ClientContext())
        ).unwrap()
        assert isinstance(pair, TokenPair)
        tokens.append(pair.access.token)
    return tokens


async def sse_subscriber(url: str, offering: uuid.UUID, meter: Meter, ready: asyncio.Event) -> None:
    """A bare HTTP/1.1 SSE client on asyncio streams (httpx's line iteration cost more CPU
    than the server's fan-out). Each SSE message ends with a blank line; the chunk-size lines
    of chunked encoding between them are never mistaken for fields (Litestar ends lines with
    CRLF)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = f"GET /live/offerings/{offering} HTTP/1.1\r\nHost: {host}\r\n"
    writer.write((request + "Accept: text/event-stream\r\n\r\n").encode())
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        buffer = b""
        while data := await reader.read(65_536):
            *messages, buffer = (buffer + data).split(b"\r\n\r\n")
            for message in messages:
                if b"changed_at" in message:
                    meter.seen(message)
                elif b": subscribed" in message:
                    ready.set()
    finally:
        writer.close()


async def ws_subscriber(url: str, offering: uuid.UUID, meter: Meter, ready: asyncio.Event) -> None:
    ws_url = url.replace("http://", "ws://")
    target = f"{ws_url}/live/offerings/{offering}/ws"
    async with connect(target, max_queue=None, open_timeout=120) as socket:
        ready.set()
        async for message in socket:
            meter.seen(message if isinstance(message, bytes) else message.encode())


async def hold_at_rate(
    url: str, tokens: list[str], offerings: list[uuid.UUID], rate: float, seconds: float
) -> tuple[int, int]:
    """Holds at `rate` per second for `seconds` (each a distinct slot): (made, refused)."""
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    made = refused = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:

        async def hold(n: int) -> None:
            nonlocal made, refused
            offering = offerings[n % len(offerings)]
            start = first + timedelta(hours=n // len(offerings))
            answer = await http.post(
                "/bookings",
                json={"offering_id": str(offering), "start": start.isoformat()},
                headers={"Authorization": f"Bearer {tokens[n % len(tokens)]}"},
            )
            if answer.status_code == 201:
                made += 1
            else:
                refused += 1

        tasks = []
        began = time.perf_counter()
        for n in range(int(rate * seconds)):
            delay = began + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(hold(n)))
        await asyncio.gather(*tasks)
    return made, refused


def cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in process group `pgid` (the API server and
    its workers), from /proc."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == pgid:  # fields after the name: state ppid pgrp ... utime stime
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@contextlib.asynccontextmanager
async def subscribed(
    url: str, offerings: list[uuid.UUID], count: int, meter: Meter
) -> AsyncIterator[None]:
    tasks, readies = [], []
    for n in range(count):
        ready = asyncio.Event()
        subscriber = sse_subscriber if n % 2 == 0 else ws_subscriber
        tasks.append(
            asyncio.create_task(subscriber(url, offerings[n % len(offerings)], meter, ready))
        )
        readies.append(ready)
        if n % 50 == 49:
            await asyncio.sleep(0.2)  # no accept-queue overflow at connect time
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run(args: argparse.Namespace, dbs: Databases, workdir: Path) -> dict[str, Any]:
    settings = Settings(
        database_url=dbs.database_url,
        redis_url=dbs.redis.url,
        kek_file=dbs.kek_file,
        argon2_memory_kib=1024,
        argon2_time_cost=1,
        live_relay=False,
    )
    container = build_container(settings)
    try:
        offerings = await seed(container, args.offerings)
        tokens = await customers(container, CUSTOMERS)
    finally:
        await container.close()
    kind = server_kinds(args.workers)[0]
    meter = Meter()
    with api_server(kind, dbs, workdir / "api.log", APP) as server:
        async with subscribed(server.url, offerings, args.subscriptions, meter):
            await asyncio.sleep(1.0)
            meter.measuring = True
            api_cpu = cpu_seconds(server.process.pid)
            client_cpu = time.process_time()
            began = time.perf_counter()
            made, refused = await hold_at_rate(
                server.url, tokens, offerings, args.rate, args.seconds
            )
            await asyncio.sleep(2.0)  # the last events' way through
            elapsed = time.perf_counter() - began
            meter.measuring = False
            api_cpu = cpu_seconds(server.process.pid) - api_cpu
            client_cpu = time.process_time() - client_cpu
    per_offering = args.subscriptions / args.offerings
    lags_ms = [lag * 1000 for lag in meter.lags]
    relayed_ms = [lag * 1000 for lag in meter.relayed]
    return {
        "server": kind.name,
        "subscriptions": args.subscriptions,
        "offerings": args.offerings,
        "hold_rate_per_s": args.rate,
        "seconds": args.seconds,
        "changes": made,
        "refused_holds": refused,
        "events_expected": round(made * per_offering),
        "events_delivered": len(lags_ms),
        "elapsed_s": round(elapsed, 1),
        # CPU the API processes spent while measuring (holds included), and per event delivered:
        # a figure the machine's other load hardly moves, unlike the lag.
        "api_cpu_s": round(api_cpu, 2),
        "api_cpu_us_per_event": round(api_cpu / max(1, len(lags_ms)) * 1e6),
        "client_cpu_s": round(client_cpu, 2),  # more than seconds + 2 when the holds fell behind
        "delivered_per_s": round(len(lags_ms) / elapsed),
        "lag_ms": {
            "p50": round(statistics.median(lags_ms), 1) if lags_ms else None,
            "p90": round(percentile(lags_ms, 90), 1) if lags_ms else None,
            "p99": round(percentile(lags_ms, 99), 1) if lags_ms else None,
            "max": round(max(lags_ms), 1) if lags_ms else None,
        },
        "change_to_stream_ms": {
            "p50": round(statistics.median(relayed_ms), 1) if relayed_ms else None,
            "p99": round(percentile(relayed_ms, 99), 1) if relayed_ms else None,
        },
    }


def _run_fast(job: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """On uvloop when installed, as the server runs: the client's loop costs less CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(job)
    return uvloop.run(job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--offerings", type=int, default=20)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    raise_open_files_limit()
    with tempfile.TemporaryDirectory(prefix="reserva-live-") as tmp:
        workdir = Path(tmp)
        with databases(workdir, durable=False) as dbs:
            result = _run_fast(run(args, dbs, workdir))
            result["machine"] = machine(dbs)
            # Other work on the machine inflates the lag: say how busy it was.
            result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
