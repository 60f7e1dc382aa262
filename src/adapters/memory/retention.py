"""In-memory retention stores (core.consent.retention): items are the moments their periods
start from, per data class; abandoned accounts are ids with their creation time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from core.consent.retention import AbandonedAccounts, DataClass, RetentionStore
from core.shared.ids import UserId


class MemoryRetentionStore(RetentionStore):
    def __init__(self, absent: Iterable[DataClass] = ()) -> None:
        self.items: dict[DataClass, list[datetime]] = {data: [] for data in DataClass}
        self.absent = frozenset(absent)
        self.batches: list[tuple[DataClass, int]] = []  # (class, how many went), per sweep

    def add(self, data: DataClass, *starts: datetime) -> None:
        self.items[data].extend(starts)

    async def count(self, data: DataClass, cut: datetime) -> int | None:
        if data in self.absent:
            return None
        return sum(1 for start in self.items[data] if start < cut)

    async def sweep(self, data: DataClass, cut: datetime, batch: int) -> int:
        if data in self.absent:
            raise LookupError(f"no store for {data}")
        due = [start for start in self.items[data] if start < cut][:batch]
        for start in due:
            self.items[data].remove(start)
        self.batches.append((data, len(due)))
        return len(due)


class MemoryAbandonedAccounts(AbandonedAccounts):
    def __init__(self) -> None:
        self.accounts: dict[UserId, datetime] = {}
        self.erased: list[UserId] = []

    async def count(self, before: datetime) -> int:
        return sum(1 for created in self.accounts.values() if created < before)

    async def list(self, before: datetime, limit: int) -> Sequence[UserId]:
        due = sorted((c, p) for p, c in self.accounts.items() if c < before)
        return [person for _, person in due[:limit]]

    async def erase(self, person: UserId) -> None:
        """What the erasure use case does to this store: the account goes."""
        self.accounts.pop(person, None)
        self.erased.append(person)
