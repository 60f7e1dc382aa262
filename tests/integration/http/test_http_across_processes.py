"""The API is stateless (issue 12 §6): two API processes and a job worker against one database
(through PgBouncer in transaction mode, as production runs N processes) and one Redis give the
answers one process gives. Every request alternates between the processes, as behind a
round-robin load balancer; the worker connects past the pooler, for its LISTEN.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from http_support import Client, appointment, next_hour, open_shop, session

from adapters.memory.clock import FixedClock
from api_test_support import eventually
from devservers.postgres import LocalPostgres
from scale_support import (
    PooledDatabase,
    RoundRobin,
    SelfDescribingTokens,
    api_processes,
    pooled_database,
    pooled_settings,
    worker_process,
)

PROCESSES = 2
RIVALS = 32
ROUNDS = 3
SEATS = 5
SEAT_SEEKERS = 40


@pytest.fixture(scope="module")
def pooled(postgres_server: LocalPostgres) -> Iterator[PooledDatabase]:
    name = f"processes_{uuid.uuid4().hex[:12]}"
    with pooled_database(postgres_server, name, pool_size=8) as database:
        yield database


@pytest.fixture(scope="module")
def origins(pooled: PooledDatabase, redis_url: str, kek_file: Path) -> Iterator[list[str]]:
    """Two API processes behind the pooler and a worker, all started once for the module."""
    environment = pooled_settings(pooled, redis_url, kek_file)
    settings = {name.lower(): value for name, value in environment.items()}
    with worker_process(environment), api_processes(PROCESSES, settings) as urls:
        yield urls


@pytest.fixture
async def balanced(origins: list[str]) -> AsyncIterator[tuple[Client, RoundRobin]]:
    transport = RoundRobin(origins)
    async with httpx.AsyncClient(transport=transport, base_url=origins[0], timeout=60) as client:
        yield client, transport


@pytest.fixture
def tokens() -> SelfDescribingTokens:
    return SelfDescribingTokens()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


async def test_rivals_spread_over_processes_get_exactly_one_hold_per_slot(
    balanced: tuple[Client, RoundRobin], tokens: SelfDescribingTokens, clock: FixedClock
) -> None:
    client, transport = balanced
    court = await appointment(client, await open_shop(client, tokens))
    served_before = len(transport.served)

    for round_ in range(ROUNDS):
        start = (next_hour(clock) + timedelta(hours=round_)).isoformat()
        body = {"offering_id": court["id"], "start": start}
        answers = await asyncio.gather(
            *(client.post("/bookings", json=body, headers=tokens.customer()) for _ in range(RIVALS))
        )
        statuses = Counter(a.status_code for a in answers)
        assert statuses == {201: 1, 409: RIVALS - 1}, (round_, statuses)

    per_process = Counter(transport.served[served_before:])
    assert list(per_process.values()) == [ROUNDS * RIVALS // PROCESSES] * PROCESSES


async def test_seekers_spread_over_processes_fill_a_session_exactly(
    balanced: tuple[Client, RoundRobin], tokens: SelfDescribingTokens, clock: FixedClock
) -> None:
    client, _ = balanced
    shop = await open_shop(client, tokens)
    offering, run = await session(client, shop, capacity=SEATS, first_start=next_hour(clock))
    body = {"offering_id": offering["id"], "occurrence_id": run}

    answers = await asyncio.gather(
        *(
            client.post("/bookings", json=body, headers=tokens.customer())
            for _ in range(SEAT_SEEKERS)
        )
    )

    assert Counter(a.status_code for a in answers) == {201: SEATS, 409: SEAT_SEEKERS - SEATS}


async def test_a_retry_on_the_other_process_replays_the_first_answer(
    balanced: tuple[Client, RoundRobin], tokens: SelfDescribingTokens, clock: FixedClock
) -> None:
    client, transport = balanced
    court = await appointment(client, await open_shop(client, tokens))
    me = tokens.customer() | {"Idempotency-Key": str(uuid.uuid4())}
    body = {"offering_id": court["id"], "start": next_hour(clock).isoformat()}

    first = await client.post("/bookings", json=body, headers=me)
    retry = await client.post("/bookings", json=body, headers=me)

    assert transport.served[-1] != transport.served[-2]  # one each
    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"
    mine = (await client.get("/bookings", headers=me)).json()["items"]
    assert [booking["id"] for booking in mine] == [first.json()["id"]]


async def test_a_burst_of_one_key_over_both_processes_has_one_effect(
    balanced: tuple[Client, RoundRobin], tokens: SelfDescribingTokens, clock: FixedClock
) -> None:
    client, _ = balanced
    court = await appointment(client, await open_shop(client, tokens))
    me = tokens.customer() | {"Idempotency-Key": "burst"}
    body = {"offering_id": court["id"], "start": next_hour(clock).isoformat()}

    burst = (client.post("/bookings", json=body, headers=me) for _ in range(20))
    answers = await asyncio.gather(*burst)

    fresh = [a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers]
    replays = [a for a in answers if a.headers.get("idempotent-replayed") == "true"]
    others = {(a.status_code, a.headers.get("idempotent-replayed")) for a in answers}
    assert len(fresh) == 1
    assert others - {(201, None)} <= {(201, "true"), (409, None)}
    assert all(replay.content == fresh[0].content for replay in replays)
    assert len((await client.get("/bookings", headers=me)).json()["items"]) == 1


async def test_the_worker_runs_the_jobs_the_processes_queue(
    balanced: tuple[Client, RoundRobin],
    tokens: SelfDescribingTokens,
    clock: FixedClock,
    pooled: PooledDatabase,
) -> None:
    """Holds written through either process queue their outbox events' dispatch (the outbox
    trigger); the worker, past the pooler, runs them all."""
    client, _ = balanced
    court = await appointment(client, await open_shop(client, tokens))
    for hour in range(PROCESSES):
        start = next_hour(clock, hours=hour).isoformat()
        body = {"offering_id": court["id"], "start": start}
        held = await client.post("/bookings", json=body, headers=tokens.customer())
        assert held.status_code == 201, held.text

    def statuses() -> Counter[str]:
        conninfo = pooled.direct.superuser_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo) as connection:
            rows = connection.execute("SELECT status FROM procrastinate_jobs").fetchall()
        return Counter(status for (status,) in rows)

    async def all_done() -> Counter[str] | None:
        found = statuses()
        return found if found and set(found) == {"succeeded"} else None

    done = await eventually(all_done, "every job succeeded", within=60, every=0.2)
    assert done["succeeded"] >= PROCESSES
