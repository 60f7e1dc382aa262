"""In-memory `AvailabilityReads`: one read-only unit of work on the bookings store per call,
answering with the store's own repositories (the same data and rules the PostGIS adapter reads
in one query)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from adapters.memory.bookings import MemoryBookingsStore
from core.bookings.model import OfferingKind, OpeningHours
from core.bookings.ports import (
    AvailabilityReads,
    BookingsUnitOfWork,
    Calendar,
    Candidate,
    SearchHit,
    SearchQuery,
)
from core.shared.ids import OfferingId
from core.shared.time import TimeRange
from core.shared.unit_of_work import PUBLIC


class MemoryAvailabilityReads(AvailabilityReads):
    def __init__(self, store: MemoryBookingsStore) -> None:
        self._store = store

    async def search(self, query: SearchQuery) -> Sequence[SearchHit]:
        async with self._store(PUBLIC) as uow:
            return await uow.offerings.search(query)

    async def candidates(
        self, query: SearchQuery, window: TimeRange, now: datetime
    ) -> Sequence[Candidate]:
        async with self._store(PUBLIC) as uow:
            return [
                Candidate(
                    calendar=await _calendar(uow, hit, window, now),
                    distance_m=hit.distance_m,
                    cursor=hit.cursor,
                )
                for hit in await uow.offerings.search(query)
            ]

    async def calendar(
        self, offering_id: OfferingId, window: TimeRange, now: datetime
    ) -> Calendar | None:
        async with self._store(PUBLIC) as uow:
            offering = await uow.offerings.get(offering_id)
            place = None if offering is None else await uow.places.get(offering.place_id)
            if offering is None or place is None:
                return None
            hit = SearchHit(offering=offering, place=place, distance_m=0.0, cursor="")
            return await _calendar(uow, hit, window, now)


async def _calendar(
    uow: BookingsUnitOfWork, hit: SearchHit, window: TimeRange, now: datetime
) -> Calendar:
    offering, place = hit.offering, hit.place
    if offering.kind is OfferingKind.SESSION:
        runs = await uow.occurrences.starting_in([offering.id], window)
        return Calendar(
            offering=offering,
            place=place,
            hours=OpeningHours(place_id=place.id),
            runs=runs,
            taken=await uow.bookings.seats_taken([run.id for run in runs], now),
        )
    rules = offering.rules
    # Bookings whose buffers reach into the window still block it.
    reach = rules.duration + rules.buffer_before + rules.buffer_after
    return Calendar(
        offering=offering,
        place=place,
        hours=await uow.places.hours(place.id),
        busy=await uow.bookings.busy(offering.resource_ids, window.widen(reach, reach), now),
    )
