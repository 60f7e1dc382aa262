"""Login back-off and API rate limiting on Redis (redis.asyncio).

Each update is one Lua script, so concurrent hits on a key are counted exactly. Time comes from
the injected Clock (passed into the scripts), not from Redis, so the rules are the same as the
memory fakes' and testable with a fake clock; Redis TTLs only clean up idle keys.

Keys name an email address or an IP address (`login:acct:<email>`, `ip:<ip>`): given a
`PersonalData`, the stored key is its keyed hash instead (field "redis.throttle_key"), so Redis
and its snapshots hold no personal value in clear (issue 10; docs/privacy.md "Identity").
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from redis.asyncio import Redis

from core.identity.ports import Blocked, RateLimiter, Reservation, Throttle
from core.identity.throttling import MAX_DOUBLINGS, ThrottlePolicy
from core.shared.personal import PersonalData
from core.shared.time import Clock

KEY_FIELD = "redis.throttle_key"


class _KeyNames:
    """Redis key names: the prefix, then the key itself or (with `keyed`) its keyed hash."""

    def __init__(self, prefix: str, keyed: PersonalData | None) -> None:
        self._prefix = prefix
        self._keyed = keyed

    async def __call__(self, keys: Sequence[str]) -> list[str]:
        if self._keyed is None:
            return [self._prefix + key for key in keys]
        return [self._prefix + await self._keyed.lookup_hash(key, field=KEY_FIELD) for key in keys]


# One hash per key: `count` attempts counted in the window (kept failures and attempts in
# flight), each also as a field `r:<reservation id>` so it can be given back exactly once;
# `last` attempt and block `until` (ms); `blocker`, the reservation that started the block,
# and the `until` from `before` it, restored if that reservation is given back.

# KEYS = the attempt's keys; ARGV = now_ms, window_ms, max_failures, base_block_ms,
# max_block_ms, max_doublings, reservation id. Returns 0 if the attempt now counts on every
# key, else the ms until the most blocked key admits one (and nothing was counted).
_RESERVE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max_failures = tonumber(ARGV[3])
local base = tonumber(ARGV[4])
local cap = tonumber(ARGV[5])
local max_doublings = tonumber(ARGV[6])
local held = 'r:' .. ARGV[7]
local wait = 0
for _, key in ipairs(KEYS) do
  local state = redis.call('HMGET', key, 'count', 'last', 'until')
  local count = tonumber(state[1]) or 0
  local last = tonumber(state[2]) or now
  local blocked = tonumber(state[3]) or 0
  if count > 0 and now >= math.max(last, blocked) + window then
    redis.call('DEL', key)
  elseif blocked - now > wait then
    wait = blocked - now
  end
end
if wait > 0 then
  return wait
end
for _, key in ipairs(KEYS) do
  local state = redis.call('HMGET', key, 'count', 'until')
  local count = (tonumber(state[1]) or 0) + 1
  local blocked = tonumber(state[2]) or 0
  redis.call('HSET', key, 'count', count, 'last', now, held, 1)
  if count >= max_failures then
    local doublings = math.min(count - max_failures, max_doublings)
    local block = math.floor(math.min(base * 2 ^ doublings, cap))
    redis.call('HSET', key, 'until', now + block, 'blocker', held, 'before', blocked)
    blocked = now + block
  end
  redis.call('PEXPIRE', key, math.max(blocked, now) - now + window)
end
return 0
"""

# KEYS = the reservation's keys; ARGV[1] = its id. Keys reset or forgotten since are skipped.
_RELEASE = """
local held = 'r:' .. ARGV[1]
for _, key in ipairs(KEYS) do
  if redis.call('HDEL', key, held) == 1 then
    if redis.call('HINCRBY', key, 'count', -1) <= 0 then
      redis.call('DEL', key)
    elseif redis.call('HGET', key, 'blocker') == held then
      redis.call('HSET', key, 'until', redis.call('HGET', key, 'before'))
      redis.call('HDEL', key, 'blocker', 'before')
    end
  end
end
return 0
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
    """Each reservation and release is one script over all its keys, so concurrent attempts
    are admitted and counted exactly (keep the keys on one node: no Redis Cluster slots)."""

    def __init__(
        self,
        redis: Redis,
        clock: Clock,
        policy: ThrottlePolicy | None = None,
        *,
        prefix: str = "throttle:",
        keyed: PersonalData | None = None,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._policy = policy or ThrottlePolicy()
        self._names = _KeyNames(prefix, keyed)
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)

    async def reserve(self, keys: Sequence[str]) -> Reservation | Blocked:
        p = self._policy
        reservation = Reservation(id=uuid.uuid4().hex, keys=tuple(keys))
        wait_ms = await self._reserve(
            keys=await self._names(keys),
            args=[
                _ms(self._clock.now().timestamp()),
                _ms(p.window.total_seconds()),
                p.max_failures,
                _ms(p.base_block.total_seconds()),
                _ms(p.max_block.total_seconds()),
                MAX_DOUBLINGS,
                reservation.id,
            ],
        )
        return Blocked(retry_after=int(wait_ms) / 1000) if int(wait_ms) > 0 else reservation

    async def release(self, reservation: Reservation) -> None:
        await self._release(keys=await self._names(reservation.keys), args=[reservation.id])

    async def reset(self, key: str) -> None:
        await self._redis.delete(*await self._names([key]))


class RedisRateLimiter(RateLimiter):
    """Sliding log in a sorted set: exact, and small for API-sized limits."""

    def __init__(
        self,
        redis: Redis,
        clock: Clock,
        *,
        prefix: str = "ratelimit:",
        keyed: PersonalData | None = None,
    ) -> None:
        self._clock = clock
        self._names = _KeyNames(prefix, keyed)
        self._hit = redis.register_script(_SLIDING_WINDOW_HIT)

    async def hit(self, key: str, limit: int, window_seconds: float) -> float | None:
        wait_ms = await self._hit(
            keys=await self._names([key]),
            args=[
                _ms(self._clock.now().timestamp()),
                _ms(window_seconds),
                limit,
                uuid.uuid4().hex,
            ],
        )
        return int(wait_ms) / 1000 if int(wait_ms) >= 0 else None
