"""Idempotency-Key on POST /bookings, stored in real Redis."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
from http_support import Client, TokenTable, appointment, next_hour, open_shop
from litestar import Litestar, Request, Response, post
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from adapters.memory.clock import FixedClock
from adapters.redis.idempotency import RedisIdempotencyStore
from core.identity import TooManyAttempts
from core.shared.idempotency import Claimed
from core.shared.ids import UserId
from core.shared.principal import Principal, Role
from entrypoints.http.idempotency import idempotent
from entrypoints.http.problems import EXCEPTION_HANDLERS, DomainProblem


async def _court(client: Client, tokens: TokenTable) -> dict[str, Any]:
    return await appointment(client, await open_shop(client, tokens))


async def _mine(client: Client, who: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.get("/bookings", headers=who)).json()["items"]
    return items


async def test_a_retry_with_the_same_key_replays_the_first_answer(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    court = await _court(client, tokens)
    me = tokens.customer() | {"Idempotency-Key": str(uuid.uuid4())}
    body = {"offering_id": court["id"], "start": next_hour(clock).isoformat()}

    first = await client.post("/bookings", json=body, headers=me)
    retry = await client.post("/bookings", json=body, headers=me)

    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(await _mine(client, me)) == 1


async def test_key_order_and_whitespace_do_not_make_a_different_request(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    court = await _court(client, tokens)
    me = tokens.customer() | {"Idempotency-Key": "k1", "Content-Type": "application/json"}
    start = next_hour(clock).isoformat()
    compact = f'{{"offering_id":"{court["id"]}","start":"{start}"}}'
    spaced = f'{{ "start": "{start}",  "offering_id": "{court["id"]}" }}'

    first = await client.post("/bookings", content=compact, headers=me)
    retry = await client.post("/bookings", content=spaced, headers=me)

    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.content == first.content


async def test_a_failure_is_replayed_too(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    court = await _court(client, tokens)
    body = {"offering_id": court["id"], "start": next_hour(clock).isoformat()}
    await client.post("/bookings", json=body, headers=tokens.customer())
    me = tokens.customer() | {"Idempotency-Key": "taken"}

    first = await client.post("/bookings", json=body, headers=me)
    retry = await client.post("/bookings", json=body, headers=me)

    assert first.status_code == retry.status_code == 409
    assert retry.headers["content-type"].startswith("application/problem+json")
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"


async def test_the_same_key_with_another_body_is_refused(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    court = await _court(client, tokens)
    me = tokens.customer() | {"Idempotency-Key": "reused"}
    start = next_hour(clock)
    await client.post(
        "/bookings", json={"offering_id": court["id"], "start": start.isoformat()}, headers=me
    )

    other = await client.post(
        "/bookings",
        json={"offering_id": court["id"], "start": next_hour(clock, hours=1).isoformat()},
        headers=me,
    )

    assert other.status_code == 422
    assert other.json()["type"].endswith("idempotency-key-reused")
    assert len(await _mine(client, me)) == 1


async def test_keys_are_scoped_to_the_caller(
    client: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    court = await _court(client, tokens)
    key = {"Idempotency-Key": "shared-key"}
    alice, bob = tokens.customer() | key, tokens.customer() | key

    for_alice = await client.post(
        "/bookings",
        json={"offering_id": court["id"], "start": next_hour(clock).isoformat()},
        headers=alice,
    )
    for_bob = await client.post(
        "/bookings",
        json={"offering_id": court["id"], "start": next_hour(clock, hours=1).isoformat()},
        headers=bob,
    )

    assert for_alice.status_code == for_bob.status_code == 201
    assert "idempotent-replayed" not in for_bob.headers
    assert for_alice.json()["id"] != for_bob.json()["id"]


async def test_a_request_still_in_flight_answers_409(
    client: Client, tokens: TokenTable, clock: FixedClock, redis_url: str
) -> None:
    court = await _court(client, tokens)
    me = tokens.customer()
    # The first request with this key has claimed it and not answered yet. (Our own client:
    # the app runs on the test client's event loop, and Redis connections belong to one loop.)
    async with Redis.from_url(redis_url) as redis:
        claim = await RedisIdempotencyStore(redis).claim(tokens.user_id(me), "in-flight", "body")
    assert isinstance(claim, Claimed)

    response = await client.post(
        "/bookings",
        json={"offering_id": court["id"], "start": next_hour(clock).isoformat()},
        headers=me | {"Idempotency-Key": "in-flight"},
    )

    assert response.status_code == 409
    assert response.json()["type"].endswith("request-in-flight")
    assert await _mine(client, me) == []


async def test_concurrent_duplicates_create_one_booking(
    live: Client, tokens: TokenTable, clock: FixedClock
) -> None:
    court = await _court(live, tokens)
    me = tokens.customer() | {"Idempotency-Key": "burst"}
    body = {"offering_id": court["id"], "start": next_hour(clock).isoformat()}

    answers = await asyncio.gather(
        *(live.post("/bookings", json=body, headers=me) for _ in range(20))
    )

    fresh = [a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers]
    others = {(a.status_code, a.headers.get("idempotent-replayed")) for a in answers} - {
        (201, None)
    }
    assert len(fresh) == 1
    assert others <= {(201, "true"), (409, None)}
    assert len(await _mine(live, me)) == 1


class _NoBody(msgspec.Struct):
    pass


async def _throttled() -> msgspec.Struct:
    raise DomainProblem(TooManyAttempts(retry_after_seconds=7.2))


def _app_answering_429(redis: Redis) -> Litestar:
    """The same failure answered directly and through `idempotent` (no bookings write fails
    with a Retry-After today, so a two-route app stands in for one)."""
    store = RedisIdempotencyStore(redis)
    caller = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))

    @post("/direct")
    async def direct() -> None:
        await _throttled()

    @post("/keyed")
    async def keyed(request: Request[Any, Any, Any]) -> Response[Any]:
        key = request.headers["idempotency-key"]
        return await idempotent(
            store=store,
            key=key,
            principal=caller,
            request=request,
            body=_NoBody(),
            run=_throttled,
            status=201,
        )

    return Litestar(
        route_handlers=[direct, keyed],
        exception_handlers=EXCEPTION_HANDLERS,
        on_shutdown=[redis.aclose],  # the client lives on the app's event loop
    )


async def test_a_stored_and_replayed_failure_is_rendered_as_the_direct_one(redis_url: str) -> None:
    """One renderer for both paths: the Retry-After of a 429 survives storing and replaying."""
    async with AsyncTestClient(app=_app_answering_429(Redis.from_url(redis_url))) as client:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        direct = await client.post("/direct")
        stored = await client.post("/keyed", headers=key)
        replayed = await client.post("/keyed", headers=key)

    assert direct.status_code == stored.status_code == replayed.status_code == 429
    assert direct.headers["retry-after"] == "8"
    assert stored.headers["retry-after"] == replayed.headers["retry-after"] == "8"
    assert direct.headers["content-type"] == stored.headers["content-type"]
    assert stored.headers["content-type"] == replayed.headers["content-type"]
    assert replayed.content == stored.content
    assert _without_instance(stored.json()) == _without_instance(direct.json())
    assert replayed.headers["idempotent-replayed"] == "true"


def _without_instance(problem: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in problem.items() if name != "instance"}
