"""What every in-memory unit of work does alike: `async with` hands back the unit itself,
leaving the block drops whatever was not committed, and `act_as` is ignored (no row-level
wall here: the use cases' own checks are the only one)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from core.shared.ids import UserId


class MemoryTransaction(ABC):
    """Base of the in-memory units of work: a subclass says what entering takes (`_begin`:
    a lock, a snapshot; nothing by default) and what leaving drops (`_discard`)."""

    async def __aenter__(self) -> Self:
        await self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._discard()

    async def act_as(self, user_id: UserId) -> None:
        return None

    async def _begin(self) -> None:
        return None

    @abstractmethod
    def _discard(self) -> None:
        """Drop what this transaction wrote and did not commit, and release what it holds."""
