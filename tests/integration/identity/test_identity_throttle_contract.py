"""The Throttle and RateLimiter contracts, over the memory fakes and real Redis: the back-off,
and attempts reserved before their check and given back after it.

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
from adapters.memory.personal import MemoryPersonalData
from adapters.memory.security_fakes import MemoryRateLimiter, MemoryThrottle
from adapters.redis.throttle import RedisRateLimiter, RedisThrottle
from core.identity.ports import Blocked, RateLimiter, Reservation, Throttle
from core.identity.throttling import ThrottlePolicy

POLICY = ThrottlePolicy(
    max_failures=3,
    window=timedelta(minutes=10),
    base_block=timedelta(seconds=2),
    max_block=timedelta(seconds=60),
)


def prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"  # the Redis server is shared by the test session


@pytest.fixture(params=["memory", "redis", "redis-keyed"])
def make_throttle(
    request: pytest.FixtureRequest, clock: FixedClock
) -> Callable[[ThrottlePolicy], Throttle]:
    if request.param == "memory":
        return lambda policy: MemoryThrottle(clock, policy)
    redis: Redis = request.getfixturevalue("redis")
    keyed = MemoryPersonalData() if request.param == "redis-keyed" else None
    return lambda policy: RedisThrottle(redis, clock, policy, prefix=prefix(), keyed=keyed)


@pytest.fixture(params=["memory", "redis", "redis-keyed"])
def limiter(request: pytest.FixtureRequest, clock: FixedClock) -> RateLimiter:
    if request.param == "memory":
        return MemoryRateLimiter(clock)
    keyed = MemoryPersonalData() if request.param == "redis-keyed" else None
    return RedisRateLimiter(request.getfixturevalue("redis"), clock, prefix=prefix(), keyed=keyed)


async def test_keyed_names_keep_addresses_out_of_redis(redis: Redis, clock: FixedClock) -> None:
    """Issue 10: what Redis stores names no email or IP address, only their keyed hashes."""
    name = prefix()
    throttle = RedisThrottle(redis, clock, POLICY, prefix=name, keyed=MemoryPersonalData())
    limiter = RedisRateLimiter(redis, clock, prefix=name, keyed=MemoryPersonalData())

    reserved = await throttle.reserve(["login:acct:ada@example.test", "login:ip:203.0.113.9"])
    await limiter.hit("ip:203.0.113.9", 10, 60)

    stored = [key.decode() async for key in redis.scan_iter(match=f"{name}*")]
    assert isinstance(reserved, Reservation)
    assert len(stored) == 3
    for key in stored:
        assert "ada@example.test" not in key
        assert "203.0.113.9" not in key


async def wait_of(throttle: Throttle, key: str) -> float | None:
    """Seconds until `key` admits an attempt (None: now), asked through the port: an admitted
    probe is given straight back, which leaves the key as it was."""
    probe = await throttle.reserve([key])
    if isinstance(probe, Blocked):
        return probe.retry_after
    await throttle.release(probe)
    return None


async def fail(throttle: Throttle, key: str, times: int) -> list[float | None]:
    """Make `times` attempts that keep counting (wrong secrets); the wait after each."""
    waits = []
    for _ in range(times):
        assert isinstance(await throttle.reserve([key]), Reservation)
        waits.append(await wait_of(throttle, key))
    return waits


async def admitted(throttle: Throttle, keys: list[str]) -> Reservation:
    reservation = await throttle.reserve(keys)
    assert isinstance(reservation, Reservation), reservation
    return reservation


# --- Throttle: the back-off -------------------------------------------------------------------


async def test_fresh_key_is_not_blocked(make_throttle: Callable[..., Throttle]) -> None:
    assert await wait_of(make_throttle(POLICY), "login:acct:a@example.com") is None


async def test_failures_below_the_limit_do_not_block(
    make_throttle: Callable[..., Throttle],
) -> None:
    throttle = make_throttle(POLICY)
    assert await fail(throttle, "k", 2) == [None, None]
    assert await wait_of(throttle, "k") is None


async def test_blocks_grow_exponentially_up_to_the_cap(
    make_throttle: Callable[..., Throttle], clock: FixedClock
) -> None:
    throttle = make_throttle(POLICY)
    await fail(throttle, "k", 2)
    blocks = []
    for _ in range(7):
        blocks.extend(await fail(throttle, "k", 1))
        clock.advance(timedelta(seconds=blocks[-1] or 0))
        assert await wait_of(throttle, "k") is None
    assert blocks == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


async def test_retry_after_counts_down(
    make_throttle: Callable[..., Throttle], clock: FixedClock
) -> None:
    throttle = make_throttle(POLICY)
    await fail(throttle, "k", 3)
    clock.advance(timedelta(milliseconds=500))
    assert await wait_of(throttle, "k") == 1.5


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
    assert await fail(throttle, "k", 1) == [4.0]


async def test_reset_forgets_the_key_only(make_throttle: Callable[..., Throttle]) -> None:
    throttle = make_throttle(POLICY)
    await fail(throttle, "a", 3)
    await fail(throttle, "b", 3)
    await throttle.reset("a")
    assert await wait_of(throttle, "a") is None
    assert await wait_of(throttle, "b") == 2.0
    assert await fail(throttle, "a", 3) == [None, None, 2.0]


async def test_concurrent_failures_are_all_counted(
    make_throttle: Callable[..., Throttle],
) -> None:
    throttle = make_throttle(ThrottlePolicy(max_failures=25, max_block=timedelta(days=30)))
    results = await asyncio.gather(*(throttle.reserve(["k"]) for _ in range(20)))
    assert all(isinstance(r, Reservation) for r in results)
    # Attempts 21..25 count on top of the 20: the 25th starts the first block.
    assert await fail(throttle, "k", 5) == [None, None, None, None, 2.0]


# --- Throttle: reserving before the check, giving back after -----------------------------------


async def test_an_attempt_in_flight_counts_against_the_limit(
    make_throttle: Callable[..., Throttle],
) -> None:
    throttle = make_throttle(POLICY)
    for _ in range(3):
        await admitted(throttle, ["k"])  # no verdict yet
    assert await throttle.reserve(["k"]) == Blocked(retry_after=2.0)


async def test_concurrent_attempts_get_exactly_the_allowed_number_through(
    make_throttle: Callable[..., Throttle],
) -> None:
    throttle = make_throttle(ThrottlePolicy(max_failures=5))
    keys = ["login:acct:a@example.com", "login:ip:192.0.2.1"]
    results = await asyncio.gather(*(throttle.reserve(keys) for _ in range(100)))
    assert sum(isinstance(r, Reservation) for r in results) == 5
    assert {r for r in results if isinstance(r, Blocked)} == {Blocked(retry_after=2.0)}
    assert [await wait_of(throttle, key) for key in keys] == [2.0, 2.0]


async def test_a_blocked_key_refuses_the_attempt_on_every_key_and_counts_on_none(
    make_throttle: Callable[..., Throttle], clock: FixedClock
) -> None:
    throttle = make_throttle(POLICY)
    await fail(throttle, "a", 3)
    clock.advance(timedelta(seconds=2))
    await fail(throttle, "a", 1)  # blocked for 4 s
    await fail(throttle, "b", 3)  # blocked for 2 s
    assert await throttle.reserve(["a", "b", "c"]) == Blocked(retry_after=4.0)
    assert await fail(throttle, "c", 3) == [None, None, 2.0]
    clock.advance(timedelta(seconds=2))
    assert await throttle.reserve(["b", "a"]) == Blocked(retry_after=2.0)
    assert await fail(throttle, "b", 1) == [4.0]  # the refused attempts did not count on b


async def test_an_attempt_counts_on_all_its_keys(make_throttle: Callable[..., Throttle]) -> None:
    throttle = make_throttle(POLICY)
    for _ in range(3):
        await admitted(throttle, ["acct", "ip"])
    assert [await wait_of(throttle, key) for key in ("acct", "ip")] == [2.0, 2.0]


async def test_a_released_attempt_no_longer_counts(make_throttle: Callable[..., Throttle]) -> None:
    throttle = make_throttle(POLICY)
    await fail(throttle, "k", 1)
    await throttle.release(await admitted(throttle, ["k", "other"]))
    assert await fail(throttle, "k", 2) == [None, 2.0]
    assert await fail(throttle, "other", 3) == [None, None, 2.0]


async def test_releasing_the_attempt_that_started_a_block_lifts_it(
    make_throttle: Callable[..., Throttle],
) -> None:
    throttle = make_throttle(POLICY)
    await fail(throttle, "k", 2)
    third = await admitted(throttle, ["k"])
    assert await throttle.reserve(["k"]) == Blocked(retry_after=2.0)
    await throttle.release(third)  # it was the right password after all
    assert await fail(throttle, "k", 1) == [2.0]  # two kept failures and this one


async def test_releasing_restores_the_block_before_it_and_keeps_the_doubling(
    make_throttle: Callable[..., Throttle], clock: FixedClock
) -> None:
    throttle = make_throttle(POLICY)
    await fail(throttle, "k", 3)
    clock.advance(timedelta(seconds=2))
    fourth = await admitted(throttle, ["k"])
    assert await throttle.reserve(["k"]) == Blocked(retry_after=4.0)
    await throttle.release(fourth)
    assert await wait_of(throttle, "k") is None
    assert await fail(throttle, "k", 1) == [4.0]


async def test_releasing_an_earlier_attempt_leaves_a_later_ones_block(
    make_throttle: Callable[..., Throttle],
) -> None:
    throttle = make_throttle(POLICY)
    first, _, third = [await admitted(throttle, ["k"]) for _ in range(3)]
    await throttle.release(first)
    assert await wait_of(throttle, "k") == 2.0  # the third may still be wrong
    await throttle.release(third)
    assert await wait_of(throttle, "k") is None
    assert await fail(throttle, "k", 2) == [None, 2.0]  # the second still counts


async def test_releasing_twice_gives_back_once(make_throttle: Callable[..., Throttle]) -> None:
    throttle = make_throttle(POLICY)
    await fail(throttle, "k", 1)
    attempt = await admitted(throttle, ["k"])
    await throttle.release(attempt)
    await throttle.release(attempt)
    assert await fail(throttle, "k", 2) == [None, 2.0]


async def test_a_reset_or_a_quiet_window_is_not_undone_by_a_late_release(
    make_throttle: Callable[..., Throttle], clock: FixedClock
) -> None:
    throttle = make_throttle(POLICY)
    before_reset = await admitted(throttle, ["a"])
    await throttle.reset("a")
    before_quiet = await admitted(throttle, ["b"])
    clock.advance(timedelta(minutes=10))
    for key in ("a", "b"):
        await fail(throttle, key, 2)
    await throttle.release(before_reset)
    await throttle.release(before_quiet)
    assert await fail(throttle, "a", 1) == [2.0]
    assert await fail(throttle, "b", 1) == [2.0]


async def test_concurrent_right_answers_give_every_attempt_back(
    make_throttle: Callable[..., Throttle],
) -> None:
    throttle = make_throttle(POLICY)

    async def right_answer() -> Reservation | Blocked:
        reserved = await throttle.reserve(["k"])
        if isinstance(reserved, Reservation):
            await asyncio.sleep(0)  # the check
            await throttle.release(reserved)
        return reserved

    results = await asyncio.gather(*(right_answer() for _ in range(20)))
    assert sum(isinstance(r, Reservation) for r in results) >= 3
    assert await fail(throttle, "k", 3) == [None, None, 2.0]


async def test_an_attempt_without_keys_is_always_admitted(
    make_throttle: Callable[..., Throttle],
) -> None:
    throttle = make_throttle(POLICY)
    for _ in range(5):
        await admitted(throttle, [])
    await throttle.release(await admitted(throttle, []))


# --- RateLimiter -----------------------------------------------------------------------------


async def test_requests_within_the_limit_pass(limiter: RateLimiter) -> None:
    assert [await limiter.hit("api:ip", 3, 60) for _ in range(3)] == [None, None, None]


async def test_a_refused_request_waits_for_its_window_to_end(
    limiter: RateLimiter, clock: FixedClock
) -> None:
    """Fixed windows, each opened by the first request after the previous one ended (the
    sliding log this replaced refused the fourth hit: issue 11 traded it for leases)."""
    await limiter.hit("k", 2, 60)  # opens the window [0 s, 60 s)
    clock.advance(timedelta(seconds=10))
    await limiter.hit("k", 2, 60)
    clock.advance(timedelta(seconds=5))
    assert await limiter.hit("k", 2, 60) == 45.0
    clock.advance(timedelta(seconds=45))  # [60 s, 120 s)
    assert await limiter.hit("k", 2, 60) is None
    assert await limiter.hit("k", 2, 60) is None
    assert await limiter.hit("k", 2, 60) == 60.0


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
    for limit in (10, 100):  # leases of 1 and of 5 permits
        results = await asyncio.gather(
            *(limiter.hit(f"burst{limit}", limit, 60) for _ in range(150))
        )
        assert sum(r is None for r in results) == limit
