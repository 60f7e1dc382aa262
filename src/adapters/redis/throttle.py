"""Login back-off and API rate limiting on Redis (redis.asyncio).

Each update is one Lua script, so concurrent hits on a key are counted exactly. Time comes from
the injected Clock (passed into the scripts), not from Redis, so the rules are the same as the
memory fakes' and testable with a fake clock; Redis TTLs only clean up idle keys.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from core.identity.ports import RateLimiter, Throttle
from core.identity.throttling import MAX_DOUBLINGS, ThrottlePolicy
from core.shared.time import Clock

# KEYS[1] = key; ARGV = now_ms, window_ms, max_failures, base_block_ms, max_block_ms,
# max_doublings. Returns the block in ms that this failure started (0 for none).
_RECORD_FAILURE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max_failures = tonumber(ARGV[3])
local base = tonumber(ARGV[4])
local cap = tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 'count', 'last', 'until')
local count = tonumber(state[1]) or 0
local last = tonumber(state[2]) or now
local blocked = tonumber(state[3]) or 0
if count > 0 and now >= math.max(last, blocked) + window then
  count = 0
  blocked = 0
end
count = count + 1
local block = 0
if count >= max_failures then
  local doublings = math.min(count - max_failures, tonumber(ARGV[6]))
  block = math.floor(math.min(base * 2 ^ doublings, cap))
  blocked = now + block
end
redis.call('HSET', KEYS[1], 'count', count, 'last', now, 'until', blocked)
redis.call('PEXPIRE', KEYS[1], math.max(blocked, now) - now + window)
return block
"""

# KEYS[1] = key; ARGV = now_ms, window_ms, limit, unique member.
# Returns -1 if accepted, else the ms until the oldest counted request leaves the window.
_SLIDING_WINDOW_HIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + window - now
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return -1
"""


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


class RedisThrottle(Throttle):
    def __init__(
        self,
        redis: Redis,
        clock: Clock,
        policy: ThrottlePolicy | None = None,
        *,
        prefix: str = "throttle:",
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._policy = policy or ThrottlePolicy()
        self._prefix = prefix
        self._record = redis.register_script(_RECORD_FAILURE)

    def _now_ms(self) -> int:
        return _ms(self._clock.now().timestamp())

    async def retry_after(self, key: str) -> float | None:
        until = await self._redis.hget(self._prefix + key, "until")
        remaining = int(until or 0) - self._now_ms()
        return remaining / 1000 if remaining > 0 else None

    async def record_failure(self, key: str) -> float | None:
        p = self._policy
        block_ms = await self._record(
            keys=[self._prefix + key],
            args=[
                self._now_ms(),
                _ms(p.window.total_seconds()),
                p.max_failures,
                _ms(p.base_block.total_seconds()),
                _ms(p.max_block.total_seconds()),
                MAX_DOUBLINGS,
            ],
        )
        return int(block_ms) / 1000 if int(block_ms) > 0 else None

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


class RedisRateLimiter(RateLimiter):
    """Sliding log in a sorted set: exact, and small for API-sized limits."""

    def __init__(self, redis: Redis, clock: Clock, *, prefix: str = "ratelimit:") -> None:
        self._clock = clock
        self._prefix = prefix
        self._hit = redis.register_script(_SLIDING_WINDOW_HIT)

    async def hit(self, key: str, limit: int, window_seconds: float) -> float | None:
        wait_ms = await self._hit(
            keys=[self._prefix + key],
            args=[
                _ms(self._clock.now().timestamp()),
                _ms(window_seconds),
                limit,
                uuid.uuid4().hex,
            ],
        )
        return int(wait_ms) / 1000 if int(wait_ms) >= 0 else None
