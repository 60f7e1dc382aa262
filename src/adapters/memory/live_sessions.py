"""LiveSessions in memory: the contract of the Redis adapter without its expiry (a test ends
long before MAX_ACCESS_TTL would let it forget anything)."""

from __future__ import annotations

import itertools
from collections.abc import Collection

from core.identity.model import SessionId
from core.identity.ports import LiveSessions
from core.shared.ids import UserId


class MemoryLiveSessions(LiveSessions):
    def __init__(self) -> None:
        self.ended: set[tuple[UserId, SessionId]] = set()
        self.epochs: dict[UserId, str] = {}
        self._serial = itertools.count(1)

    async def epoch(self, user_id: UserId) -> str | None:
        return self.epochs.get(user_id)

    async def is_live(self, user_id: UserId, session_id: SessionId, epoch: str | None) -> bool:
        current = self.epochs.get(user_id)
        return (user_id, session_id) not in self.ended and (current is None or current == epoch)

    async def end(self, user_id: UserId, session_ids: Collection[SessionId]) -> None:
        self.ended.update((user_id, session_id) for session_id in session_ids)

    async def new_epoch(self, user_id: UserId) -> None:
        self.epochs[user_id] = f"epoch-{next(self._serial)}"
