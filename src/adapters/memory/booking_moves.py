"""In-memory `BookingMoves` and `LapsedHolds`, on a `MemoryBookingsStore`: the same
transactions and waits as its units of work, so they race as PostgreSQL's adapters do."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from adapters.memory.bookings import MemoryBookingsStore
from core.bookings.model import Booking, BookingStatus
from core.bookings.ports import BookingMoves, LapsedHolds
from core.shared.events import Event
from core.shared.ids import BookingId
from core.shared.unit_of_work import Access


class MemoryBookingMoves(BookingMoves):
    def __init__(self, store: MemoryBookingsStore) -> None:
        self._store = store

    async def get(self, access: Access, id: BookingId) -> Booking | None:
        async with self._store(access) as uow:
            return await uow.bookings.get(id)

    async def move(
        self,
        access: Access,
        after: Booking,
        expected: BookingStatus,
        now: datetime,
        events: Sequence[Event],
    ) -> bool:
        async with self._store(access) as uow:
            if not await uow.bookings.save(after, expected, now):
                return False
            await uow.outbox.add(*events)
            await uow.commit()
        return True


class MemoryLapsedHolds(LapsedHolds):
    def __init__(self, store: MemoryBookingsStore) -> None:
        self._store = store

    async def expire(self, now: datetime, batch: int) -> int:
        return self._store.expire_lapsed_holds(now, batch)
