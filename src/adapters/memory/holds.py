"""In-memory `BookableCatalog` and `BookingHolds` over a `MemoryBookingsStore`, with the
semantics of PostgreSQL's (migration 0020): a cached snapshot carries its place's catalog
version, every write checks it, and the store's repositories decide as its transactions do."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs
from returns.result import Failure, Result, Success

from adapters.memory.bookings import MemoryBookingsStore, MemoryBookingsUnitOfWork
from core.bookings.model import Booking, BookingStatus, Occurrence, SlotUnavailable
from core.bookings.ports import (
    BookableCatalog,
    BookableOffering,
    BookingHolds,
    BookingMoved,
    CatalogChanged,
    HoldRefused,
    RescheduleRefused,
)
from core.shared.events import Event
from core.shared.ids import BookingId, OccurrenceId, OfferingId, ResourceId
from core.shared.unit_of_work import PUBLIC, Access


class MemoryBookableCatalog(BookableCatalog):
    """Caches what it read until told to forget it, as the PostGIS catalog does: a test can
    make a snapshot stale and watch the write refuse it."""

    def __init__(self, store: MemoryBookingsStore) -> None:
        self._store = store
        self._offerings: dict[OfferingId, BookableOffering] = {}
        self._runs: dict[OccurrenceId, Occurrence] = {}

    async def offering(self, id: OfferingId) -> BookableOffering | None:
        if id in self._offerings:
            return self._offerings[id]
        async with self._store(PUBLIC) as uow:
            offering = await uow.offerings.get(id)
            place = None if offering is None else await uow.places.get(offering.place_id)
            if offering is None or place is None:
                return None
            hours = await uow.places.hours(place.id)
        snapshot = BookableOffering(
            offering=offering,
            place=place,
            hours=hours,
            version=self._store.catalog_version(place.id),
        )
        self._offerings[id] = snapshot
        return snapshot

    async def occurrence(self, id: OccurrenceId) -> Occurrence | None:
        if id not in self._runs:
            async with self._store(PUBLIC) as uow:
                run = await uow.occurrences.get(id)
            if run is None:
                return None
            self._runs[id] = run
        return self._runs[id]

    def forget(self, offering_id: OfferingId) -> None:
        self._offerings.pop(offering_id, None)
        for id in [id for id, run in self._runs.items() if run.offering_id == offering_id]:
            del self._runs[id]


class MemoryBookingHolds(BookingHolds):
    """Each call is one transaction of the store; a refusal commits nothing."""

    def __init__(self, store: MemoryBookingsStore) -> None:
        self._store = store

    async def hold(
        self,
        access: Access,
        booking: Booking,
        candidates: Sequence[ResourceId],
        version: int,
        now: datetime,
        events: Sequence[Event],
    ) -> Result[Booking, HoldRefused]:
        async with self._store(access) as uow:
            placed = await self._place(uow, booking, candidates, version, now)
            if isinstance(placed, Success):
                await uow.outbox.add(*events)
                await uow.commit()
            return placed

    async def reschedule(
        self,
        access: Access,
        old_id: BookingId,
        expected_status: BookingStatus,
        new_booking: Booking,
        candidates: Sequence[ResourceId],
        version: int,
        now: datetime,
        events: Sequence[Event],
    ) -> Result[Booking, RescheduleRefused]:
        async with self._store(access) as uow:
            if not await self._current(uow, new_booking, version):
                return Failure(CatalogChanged())
            old = await uow.bookings.get(old_id)
            replaced = None if old is None else attrs.evolve(old, status=BookingStatus.RESCHEDULED)
            if replaced is None or not await uow.bookings.save(replaced, expected_status, now):
                return Failure(BookingMoved())
            placed = await self._place(uow, new_booking, candidates, version, now)
            if isinstance(placed, Success):
                await uow.outbox.add(*events)
                await uow.commit()
            return placed  # a refusal leaves without commit: the old booking stays as it was

    async def booking(self, access: Access, id: BookingId) -> Booking | None:
        async with self._store(access) as uow:
            return await uow.bookings.get(id)

    async def _place(
        self,
        uow: MemoryBookingsUnitOfWork,
        booking: Booking,
        candidates: Sequence[ResourceId],
        version: int,
        now: datetime,
    ) -> Result[Booking, HoldRefused]:
        if not await self._current(uow, booking, version):
            return Failure(CatalogChanged())
        if booking.occurrence_id is not None:
            run = await uow.occurrences.get(booking.occurrence_id)
            if run is None or (run.offering_id, run.during) != (
                booking.offering_id,
                booking.during,
            ):
                return Failure(CatalogChanged())
            seated = await uow.bookings.add_seated(booking, run.capacity, now)
            return seated.map(lambda _: booking)
        for resource_id in candidates:
            on_resource = attrs.evolve(booking, resource_id=resource_id)
            if isinstance(await uow.bookings.add_exclusive(on_resource, now), Success):
                return Success(on_resource)
        return Failure(SlotUnavailable())

    async def _current(self, uow: MemoryBookingsUnitOfWork, booking: Booking, version: int) -> bool:
        offering = await uow.offerings.get(booking.offering_id)
        return offering is not None and self._store.catalog_version(offering.place_id) == version
