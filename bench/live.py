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
from collections.abc import AsyncIterator
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
    """Arrival lags (s) of every event received while measuring."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.relayed: list[float] = []  # of which: from the change to the stream (Redis's clock)
        self.measuring = False

    def seen(self, data: str) -> None:
        if not self.measuring:
            return
        event = json.loads(data)
        changed = datetime.fromisoformat(event["changed_at"]).timestamp()
        self.lags.append(time.time() - changed)
        # The stream id's first part is Redis's clock at XADD, in ms (same machine).
        self.relayed.append(int(event["id"].split("-")[0]) / 1000 - changed)


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


async def sse_subscriber(
    http: httpx.AsyncClient, offering: uuid.UUID, meter: Meter, ready: asyncio.Event
) -> None:
    async with http.stream("GET", f"/live/offerings/{offering}") as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if line.startswith(":"):
                ready.set()
            elif line.startswith("data: "):
                meter.seen(line[6:])


async def ws_subscriber(url: str, offering: uuid.UUID, meter: Meter, ready: asyncio.Event) -> None:
    async with connect(f"{url}/live/offerings/{offering}/ws", max_queue=None) as socket:
        ready.set()
        async for message in socket:
            meter.seen(str(message))


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


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@contextlib.asynccontextmanager
async def subscribed(
    url: str, offerings: list[uuid.UUID], count: int, meter: Meter
) -> AsyncIterator[None]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(60, read=None)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as http:
        ws_url = url.replace("http://", "ws://")
        tasks, readies = [], []
        for n in range(count):
            ready = asyncio.Event()
            offering = offerings[n % len(offerings)]
            if n % 2 == 0:
                job = sse_subscriber(http, offering, meter, ready)
            else:
                job = ws_subscriber(ws_url, offering, meter, ready)
            tasks.append(asyncio.create_task(job))
            readies.append(ready)
            if n % 50 == 49:
                await asyncio.sleep(0.05)  # no accept-queue overflow at connect time
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        try:
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
            began = time.perf_counter()
            made, refused = await hold_at_rate(
                server.url, tokens, offerings, args.rate, args.seconds
            )
            await asyncio.sleep(2.0)  # the last events' way through
            elapsed = time.perf_counter() - began
            meter.measuring = False
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
        "elapsed_s": round(elapsed, 1),  # more than seconds + 2 when the holds fell behind
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
            result = asyncio.run(run(args, dbs, workdir))
            result["machine"] = machine(dbs)
            # Other work on the machine inflates the lag: say how busy it was.
            result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
