"""The API rate limit across processes (issue 11): each RedisRateLimiter stands for one API
process; they share one real Redis, from which they lease permits a batch at a time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

from adapters.memory.clock import FixedClock
from adapters.redis.throttle import RedisRateLimiter, lease_size

WINDOW = 60


class CountingRedis(Redis):
    """A real Redis client that counts the scripts it runs (one per lease)."""

    scripts = 0

    async def evalsha(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.scripts += 1
        return await super().evalsha(*args, **kwargs)


def processes(redis: Redis, clock: FixedClock, count: int) -> list[RedisRateLimiter]:
    prefix = f"test:{uuid.uuid4().hex}:"
    return [RedisRateLimiter(redis, clock, prefix=prefix) for _ in range(count)]


async def hits(limiters: list[RedisRateLimiter], key: str, limit: int, total: int) -> int:
    """`total` concurrent requests spread round-robin over `limiters`; how many were admitted."""
    answers = await asyncio.gather(
        *(limiters[i % len(limiters)].hit(key, limit, WINDOW) for i in range(total))
    )
    return sum(answer is None for answer in answers)


async def test_two_processes_never_admit_more_than_the_limit_together(
    redis: Redis, clock: FixedClock
) -> None:
    for limit in (1, 7, 40, 100):
        first, second = processes(redis, clock, 2)
        admitted = await hits([first, second], "ip:203.0.113.5", limit, 100)
        unspent = 2 * (lease_size(limit) - 1)  # at most one short lease left in each process
        assert limit - unspent <= admitted <= limit, limit
        assert await first.hit("ip:203.0.113.5", limit, WINDOW) is not None
        assert await second.hit("ip:203.0.113.5", limit, WINDOW) is not None


async def test_one_process_alone_admits_exactly_the_limit_asking_once_per_lease(
    redis_url: str, clock: FixedClock
) -> None:
    redis = CountingRedis.from_url(redis_url)
    try:
        [alone] = processes(redis, clock, 1)
        assert await hits([alone], "user:ada", 600, 700) == 600
        assert redis.scripts == 600 // lease_size(600) + 1  # 20 leases, then "none left"
        refused = [await alone.hit("user:ada", 600, WINDOW) for _ in range(50)]
        assert refused == [60.0] * 50
        assert redis.scripts == 21  # refusals are answered locally until the window ends
    finally:
        await redis.aclose()


async def test_windows_recover_for_every_process(redis: Redis, clock: FixedClock) -> None:
    first, second = processes(redis, clock, 2)
    await hits([first, second], "k", 40, 100)
    clock.advance(timedelta(seconds=WINDOW - 1))
    assert await first.hit("k", 40, WINDOW) == 1.0
    clock.advance(timedelta(seconds=1))
    assert await hits([first, second], "k", 40, 100) >= 40 - 2 * (lease_size(40) - 1)
    assert await first.hit("k", 40, WINDOW) is not None


async def test_a_window_spans_processes_from_the_first_request(
    redis: Redis, clock: FixedClock
) -> None:
    """The second process joins the window the first one opened, not a window of its own."""
    first, second = processes(redis, clock, 2)
    assert await first.hit("k", 2, WINDOW) is None
    clock.advance(timedelta(seconds=20))
    assert await second.hit("k", 2, WINDOW) is None
    assert await second.hit("k", 2, WINDOW) == 40.0
    assert await first.hit("k", 2, WINDOW) == 40.0
