"""Login back-off and API rate limiting on Redis (redis.asyncio).

Each update is one Lua script, so concurrent hits on a key are counted exactly (the rate
limiter counts leases of permits, spent locally: RedisRateLimiter). Time comes from
the injected Clock (passed into the scripts), not from Redis, so the rules are the same as the
memory fakes' and testable with a fake clock; Redis TTLs only clean up idle keys.

Keys name an email address or an IP address (`login:acct:<email>`, `ip:<ip>`): given a
`PersonalData`, the stored key is its keyed hash instead (field "redis.throttle_key"), so Redis
and its snapshots hold no personal value in clear (issue 10; docs/privacy.md "Identity").
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Sequence

import attrs
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

# KEYS[1] = key; ARGV = now_ms, window_ms, limit, lease size. A hash: the window's `start`
# (ms, opened by the first request after the previous window ended) and the permits `used`
# (leased) in it. Leases up to `lease size` permits, counting them at once; returns
# {permits leased, ms until the window ends}.
_LEASE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local size = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'start', 'used')
local start = tonumber(state[1])
local used = tonumber(state[2]) or 0
if start == nil or now >= start + window then
  start = now
  used = 0
end
local leased = math.max(0, math.min(size, limit - used))
redis.call('HSET', KEYS[1], 'start', start, 'used', used + leased)
redis.call('PEXPIRE', KEYS[1], start + window - now)
return {leased, start + window - now}
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


LEASE_DIVISOR = 20  # a lease is 1/20 of the limit: at most 5 % left unspent per process
MAX_LEASED_KEYS = 10_000  # clients with permits in hand, per process


def lease_size(limit: int) -> int:
    return max(1, limit // LEASE_DIVISOR)


@attrs.define
class _Lease:
    """Permits of one key this process has counted in Redis and not spent yet."""

    ends_at_ms: int = 0  # the end of the window they belong to
    permits: int = 0
    exhausted: bool = False  # Redis had none left for this window
    renewing: asyncio.Future[None] | None = None


class RedisRateLimiter(RateLimiter):
    """Fixed windows counted in Redis, spent from local leases: the API rate limit across
    processes without a Redis call per request.

    A key's window opens at its first request and lasts `window_seconds`. A process takes
    permits from Redis a lease at a time (`lease_size`: limit/20, at least 1), in one atomic
    script that counts the whole lease as used at once, then spends it locally; it asks again
    only when the lease is spent, and not at all once Redis has said the window is exhausted
    (until it ends). Concurrent requests of one key in a process wait for one renewal.

    The trade-offs, chosen for cost (docs/caching.md):
    - Never more than `limit` requests per window in total, however many processes: every
      admitted request spends a permit Redis counted.
    - Fewer, when a client's requests spread over processes: each may hold up to
      lease_size - 1 unspent permits when Redis runs out, and they are lost with the window.
      N processes admit at least limit - N * (lease_size - 1) (>= 95 % with two processes,
      600 a minute: 542); a client whose requests reach one process gets exactly `limit`.
    - Fixed windows, not a sliding log: a client may spend a whole window's limit just
      before it ends and the next one's just after (2 x limit within one window length).
    - Redis is asked about 20 times per window per busy key and process instead of once per
      request; a Redis outage fails open in RateLimitMiddleware, as before.
    """

    def __init__(
        self,
        redis: Redis,
        clock: Clock,
        *,
        prefix: str = "ratelimit:",
        keyed: PersonalData | None = None,
        max_keys: int = MAX_LEASED_KEYS,
    ) -> None:
        self._clock = clock
        self._names = _KeyNames(prefix, keyed)
        self._lease = redis.register_script(_LEASE)
        self._leases: OrderedDict[str, _Lease] = OrderedDict()
        self._max_keys = max_keys

    async def hit(self, key: str, limit: int, window_seconds: float) -> float | None:
        lease = self._local(key)
        while True:
            now_ms = _ms(self._clock.now().timestamp())
            if now_ms < lease.ends_at_ms:
                if lease.permits > 0:
                    lease.permits -= 1
                    return None
                if lease.exhausted:
                    return (lease.ends_at_ms - now_ms) / 1000
            if lease.renewing is not None:
                await lease.renewing
            else:
                await self._renew(lease, key, limit, _ms(window_seconds), now_ms)

    def _local(self, key: str) -> _Lease:
        """The key's lease, the most recently used; the least recently used one is forgotten
        beyond `max_keys` (its unspent permits are lost: only stricter)."""
        lease = self._leases.get(key)
        if lease is None:
            lease = self._leases[key] = _Lease()
            if len(self._leases) > self._max_keys:
                self._leases.popitem(last=False)
        else:
            self._leases.move_to_end(key)
        return lease

    async def _renew(
        self, lease: _Lease, key: str, limit: int, window_ms: int, now_ms: int
    ) -> None:
        renewing = lease.renewing = asyncio.get_running_loop().create_future()
        try:
            leased, left_ms = await self._lease(
                keys=await self._names([key]), args=[now_ms, window_ms, limit, lease_size(limit)]
            )
            lease.ends_at_ms = now_ms + int(left_ms)
            lease.permits = int(leased)
            lease.exhausted = lease.permits == 0
        finally:
            lease.renewing = None
            renewing.set_result(None)  # waiters look again (and renew if this failed)
