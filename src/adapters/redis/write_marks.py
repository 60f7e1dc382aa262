"""Read-your-writes marks in Redis: per person, the highest WAL position their writes reached.

    ryw:{<user id>}   16 hex digits, zero-padded   the LSN, as bytes into the WAL

The value only rises (a Lua script compares the fixed-width hex text, exact for any LSN,
where Lua's numbers would round past 2^53) and expires `ttl_seconds` after the last write:
a replica normally replays within milliseconds, so a mark older than that says nothing a
replica has not already applied. It implements `adapters.postgis.write_marks.WriteMarks`
(structurally: adapters do not import each other; the composition root joins them).
"""

from __future__ import annotations

from redis.asyncio import Redis

from core.shared.ids import UserId

TTL_SECONDS = 30.0

_RAISE = """
local current = redis.call('GET', KEYS[1])
if current and current >= ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class RedisWriteMarks:
    def __init__(
        self, redis: Redis, *, ttl_seconds: float = TTL_SECONDS, prefix: str = "ryw:"
    ) -> None:
        self._redis = redis
        self._ttl_ms = max(1, round(ttl_seconds * 1000))
        self._prefix = prefix
        self._raise = redis.register_script(_RAISE)

    def _key(self, user_id: UserId) -> str:
        return f"{self._prefix}{{{user_id}}}"

    async def note(self, user_id: UserId, lsn: int) -> None:
        await self._raise(keys=[self._key(user_id)], args=[f"{lsn:016x}", self._ttl_ms])

    async def of(self, user_id: UserId) -> int | None:
        value = await self._redis.get(self._key(user_id))
        if value is None:
            return None
        return int(value, 16)
