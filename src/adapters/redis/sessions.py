"""LiveSessions on Redis: a key per ended session and one per user's authorization epoch.

    live:{<user id>}:ended:<session id>   "1"                  an ended session
    live:{<user id>}:epoch                 16 random hex digits the user's current epoch

Both expire after REMEMBER, longer than any access token lives (MAX_ACCESS_TTL, plus a minute
for clocks that disagree across hosts): by then every token they refuse has expired anyway,
so Redis holds only what changed in the last quarter hour. The `{user id}` hash tag keeps a
user's keys in one Redis Cluster slot, so the check per request is one MGET of two keys.

An epoch is a random value, not a counter, because its key expires: a counter that vanished
would start again at a number some live token already carries. A token matches only the
value it was issued under, or no value at all while the key is absent (then nothing changed
since every live token was issued).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import timedelta

from redis.asyncio import Redis

from core.identity.model import SessionId
from core.identity.ports import LiveSessions
from core.identity.settings import MAX_ACCESS_TTL
from core.shared.ids import UserId

REMEMBER = MAX_ACCESS_TTL + timedelta(minutes=1)


class RedisLiveSessions(LiveSessions):
    def __init__(
        self, redis: Redis, *, prefix: str = "live:", remember: timedelta = REMEMBER
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._remember = remember

    def _user(self, user_id: UserId) -> str:
        return f"{self._prefix}{{{user_id}}}:"

    def _ended(self, user_id: UserId, session_id: SessionId) -> str:
        return f"{self._user(user_id)}ended:{session_id}"

    def _epoch(self, user_id: UserId) -> str:
        return f"{self._user(user_id)}epoch"

    async def epoch(self, user_id: UserId) -> str | None:
        return _text(await self._redis.get(self._epoch(user_id)))

    async def is_live(self, user_id: UserId, session_id: SessionId, epoch: str | None) -> bool:
        ended, current = await self._redis.mget(
            self._ended(user_id, session_id), self._epoch(user_id)
        )
        return ended is None and (current is None or _text(current) == epoch)

    async def end(self, user_id: UserId, session_ids: Collection[SessionId]) -> None:
        if not session_ids:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.set(self._ended(user_id, session_id), b"1", ex=self._remember)
            await pipe.execute()

    async def new_epoch(self, user_id: UserId) -> None:
        await self._redis.set(self._epoch(user_id), secrets.token_hex(8), ex=self._remember)


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
