"""The Throttle and RateLimiter contracts, over the memory fakes and real Redis.

Both take time from the injected clock, so one fake clock drives the fakes and Redis alike.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from adapters.memory.clock import FixedClock
from adapters.memory.security_fakes import MemoryRateLimiter, MemoryThrottle
from adapters.redis.throttle import RedisRateLimiter, RedisThrottle
from core.identity.ports import RateLimiter, Throttle
from core.identity.throttling import ThrottlePolicy

POLICY = ThrottlePolicy(
    max_failures=3,
    window=timedelta(minutes=10),
    base_block=timedelta(seconds=2),
    max_block=timedelta(seconds=60),
)


def prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"  # the Redis server is shared by the test session


@pytest.fixture(params=["memory", "redis"])
def make_throttle(
    request: pytest.FixtureRequest, clock: FixedClock
) -> Callable[[ThrottlePolicy], Throttle]:
    if request.param == "memory":
        return lambda policy: MemoryThrottle(clock, policy)
    redis: Redis = request.getfixturevalue("redis")
    return lambda policy: RedisThrottle(redis, clock, policy, prefix=prefix())


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest, clock: FixedClock) -> RateLimiter:
    if request.param == "memory":
        return MemoryRateLimiter(clock)
    return RedisRateLimiter(request.getfixturevalue("redis"), clock, prefix=prefix())


async def fail(throttle: Throttle, key: str, times: int) -> list[float | None]:
    return [await throttle.record_failure(key) for _ in range(times)]


# --- Throttle --------------------------------------------------------------------------------


async def test_fresh_key_is_not_blocked(make_throttle: Callable[..., Throttle]) -> None:
    assert await make_throttle(POLICY).retry_after("login:acct:a@example.com") is None


async def test_failures_below_the_limit_do_not_block(
    make_throttle: Callable[..., Throttle],
) -> None:
    throttle = make_throttle(POLICY)
    assert await fail(throttle, "k", 2) == [None, None]
    assert await throttle.retry_after("k") is None


async def test_blocks_grow_exponentially_up_to_the_cap(
    make_throttle: Callable[..., Throttle], clock: FixedClock
) -> None:
    throttle = make_throttle(POLICY)
    await fail(throttle, "k", 2)
    blocks = []
    for _ in range(7):
        blocks.append(await throttle.record_failure("k"))
        assert await throttle.retry_after("k") == blocks[-1]
        clock.advance(timedelta(seconds=blocks[-1] or 0))
        assert await throttle.retry_after("k") is None
    assert blocks == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


async def test_retry_after_counts_down(
    make_throttle: Callable[..., Throttle], clock: FixedClock
) -> None:
    throttle = make_throttle(POLICY)
    await fail(throttle, "k", 3)
    clock.advance(timedelta(milliseconds=500))
    assert await throttle.retry_after("k") == 1.5


async def test_failures_are_forgotten_after_a_quiet_window(
    make_throttle: Callable[..., Throttle], clock: FixedClock
) -> None:
    throttle = make_throttle(POLICY)
    await fail(throttle, "k", 3)  # blocked for 2 s
    clock.advance(timedelta(minutes=10, seconds=2))
    assert await fail(throttle, "k", 3) == [None, None, 2.0]


async def test_failures_within_the_window_keep_counting(
    make_throttle: Callable[..., Throttle], clock: FixedClock
) -> None:
    throttle = make_throttle(POLICY)
    await fail(throttle, "k", 3)
    clock.advance(timedelta(minutes=9))
    assert await throttle.record_failure("k") == 4.0


async def test_reset_forgets_the_key_only(make_throttle: Callable[..., Throttle]) -> None:
    throttle = make_throttle(POLICY)
    await fail(throttle, "a", 3)
    await fail(throttle, "b", 3)
    await throttle.reset("a")
    assert await throttle.retry_after("a") is None
    assert await throttle.retry_after("b") == 2.0
    assert await fail(throttle, "a", 3) == [None, None, 2.0]


async def test_concurrent_failures_are_all_counted(
    make_throttle: Callable[..., Throttle],
) -> None:
    throttle = make_throttle(ThrottlePolicy(max_failures=5, max_block=timedelta(days=30)))
    results = await asyncio.gather(*(throttle.record_failure("k") for _ in range(20)))
    # Failures 5..20 each started a block: 2 s doubling 15 times for the 20th.
    assert sorted(r for r in results if r is not None)[-1] == 2.0 * 2**15
    assert sum(r is None for r in results) == 4


# --- RateLimiter -----------------------------------------------------------------------------


async def test_requests_within_the_limit_pass(limiter: RateLimiter) -> None:
    assert [await limiter.hit("api:ip", 3, 60) for _ in range(3)] == [None, None, None]


async def test_request_over_the_limit_waits_for_the_oldest_to_leave_the_window(
    limiter: RateLimiter, clock: FixedClock
) -> None:
    await limiter.hit("k", 2, 60)
    clock.advance(timedelta(seconds=10))
    await limiter.hit("k", 2, 60)
    clock.advance(timedelta(seconds=5))
    assert await limiter.hit("k", 2, 60) == 45.0
    clock.advance(timedelta(seconds=45))
    assert await limiter.hit("k", 2, 60) is None
    assert await limiter.hit("k", 2, 60) == 10.0


async def test_refused_requests_are_not_counted(limiter: RateLimiter, clock: FixedClock) -> None:
    await limiter.hit("k", 1, 10)
    for _ in range(5):
        assert await limiter.hit("k", 1, 10) == 10.0
    clock.advance(timedelta(seconds=10))
    assert await limiter.hit("k", 1, 10) is None


async def test_keys_are_limited_separately(limiter: RateLimiter) -> None:
    assert await limiter.hit("a", 1, 10) is None
    assert await limiter.hit("b", 1, 10) is None
    assert await limiter.hit("a", 1, 10) == 10.0


async def test_concurrent_hits_admit_exactly_the_limit(limiter: RateLimiter) -> None:
    results = await asyncio.gather(*(limiter.hit("burst", 10, 60) for _ in range(50)))
    assert sum(r is None for r in results) == 10
