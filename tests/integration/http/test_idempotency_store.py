"""The Redis idempotency store on its own: ownership of claims, release and expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from redis.asyncio import Redis

from adapters.redis.idempotency import RedisIdempotencyStore
from core.shared.idempotency import Claimed, Replay, RequestInFlight, StoredResponse

ANSWER = StoredResponse(status=201, media_type="application/json", body=b'{"id": 1}')


@pytest_asyncio.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url) as client:
        await client.flushdb()
        yield client


async def _claimed(store: RedisIdempotencyStore, key: str = "k") -> Claimed:
    claim = await store.claim("user-1", key, "fingerprint")
    assert isinstance(claim, Claimed)
    return claim


async def test_a_released_claim_lets_a_retry_run(redis: Redis) -> None:
    store = RedisIdempotencyStore(redis)
    await store.release(await _claimed(store))

    retry = await store.claim("user-1", "k", "fingerprint")

    assert isinstance(retry, Claimed)


async def test_a_claim_that_timed_out_cannot_overwrite_its_successor(redis: Redis) -> None:
    store = RedisIdempotencyStore(redis)
    stale = await _claimed(store)
    await redis.flushdb()  # the stale claim expired
    successor = await _claimed(store)

    await store.complete(stale, ANSWER)
    await store.release(stale)

    assert isinstance(await store.claim("user-1", "k", "fingerprint"), RequestInFlight)
    await store.complete(successor, ANSWER)
    assert await store.claim("user-1", "k", "fingerprint") == Replay(response=ANSWER)


async def test_claims_and_answers_expire(redis: Redis) -> None:
    store = RedisIdempotencyStore(redis, answer_ttl_seconds=3600, claim_ttl_seconds=30)
    claim = await _claimed(store)
    (key,) = await redis.keys("reserva:idempotency:*")
    claim_ttl = await redis.ttl(key)

    await store.complete(claim, ANSWER)

    assert 0 < claim_ttl <= 30
    assert 3000 < await redis.ttl(key) <= 3600
