"""Finding something to book: free slots of an offering, and geo search for offerings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs
from returns.result import Failure, Result, Success

from core.bookings import availability
from core.bookings.cursors import checked_search_cursor
from core.bookings.model import Offering, OfferingKind, Slot
from core.bookings.ports import BookingsUnitOfWork, SearchHit, SearchQuery
from core.bookings.service import BookingsUseCase
from core.shared.errors import DomainError, InvalidInput, NotFound
from core.shared.ids import OfferingId
from core.shared.time import TimeRange
from core.shared.unit_of_work import PUBLIC

MAX_WINDOW = timedelta(days=31)


def _window(window: TimeRange) -> Result[TimeRange, InvalidInput]:
    if window.duration > MAX_WINDOW:
        return Failure(InvalidInput(field="to", reason="window longer than 31 days"))
    return Success(window)


async def free_slots(
    uow: BookingsUnitOfWork, offering: Offering, window: TimeRange, now: datetime
) -> list[Slot]:
    if offering.kind is OfferingKind.SESSION:
        runs = await uow.occurrences.starting_in([offering.id], window)
        taken = await uow.bookings.seats_taken([r.id for r in runs], now)
        return availability.session_slots(offering, runs, taken, window, now)
    place = await uow.places.get(offering.place_id)
    if place is None:
        return []
    hours = await uow.places.hours(place.id)
    # Bookings whose buffers reach into the window still block it.
    reach = offering.rules.duration + offering.rules.buffer_before + offering.rules.buffer_after
    busy = await uow.bookings.busy(offering.resource_ids, window.widen(reach, reach), now)
    return availability.appointment_slots(offering, place.zone, hours, busy, window, now)


class GetAvailability(BookingsUseCase):
    async def __call__(
        self, offering_id: OfferingId, window: TimeRange
    ) -> Result[Sequence[Slot], DomainError]:
        checked = _window(window)
        if isinstance(checked, Failure):
            return checked
        async with self.uow(PUBLIC) as uow:
            offering = await uow.offerings.get(offering_id)
            if offering is None:
                return Failure(NotFound(kind="offering", id=str(offering_id)))
            return Success(await free_slots(uow, offering, window, self.clock.now()))


class SearchOfferings(BookingsUseCase):
    """Geo search; with `free_in`, only offerings with a free slot starting in that window."""

    async def __call__(
        self, query: SearchQuery, free_in: TimeRange | None = None
    ) -> Result[Sequence[SearchHit], DomainError]:
        cursor = checked_search_cursor(query.page.after)
        if isinstance(cursor, Failure):
            return cursor
        if free_in is None:
            async with self.uow(PUBLIC) as uow:
                return Success(await uow.offerings.search(query))
        checked = _window(free_in)
        if isinstance(checked, Failure):
            return checked
        return Success(await self._with_free_slot(query, free_in))

    async def _with_free_slot(self, query: SearchQuery, free_in: TimeRange) -> list[SearchHit]:
        wanted, scanned, found = query.page.limit, 0, list[SearchHit]()
        page = query.page
        now = self.clock.now()
        async with self.uow(PUBLIC) as uow:
            while len(found) < wanted and scanned < self.settings.max_search_scan:
                batch = await uow.offerings.search(attrs.evolve(query, page=page))
                for hit in batch:
                    if await free_slots(uow, hit.offering, free_in, now):
                        found.append(hit)
                        if len(found) == wanted:
                            break
                scanned += len(batch)
                if len(batch) < page.limit:
                    break
                page = attrs.evolve(page, after=batch[-1].cursor)
        return found
