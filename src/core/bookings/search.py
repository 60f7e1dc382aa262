"""Finding something to book: free slots of an offering, and geo search for offerings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs
from returns.result import Failure, Result, Success

from core.bookings import availability
from core.bookings.cursors import checked_search_cursor
from core.bookings.model import OfferingKind, Slot
from core.bookings.ports import (
    AvailabilityReads,
    Calendar,
    Candidate,
    Page,
    SearchHit,
    SearchQuery,
)
from core.bookings.service import BookingSettings
from core.shared.errors import DomainError, InvalidInput, NotFound
from core.shared.ids import OfferingId
from core.shared.time import Clock, TimeRange
from core.shared.use_case import UseCase

MAX_WINDOW = timedelta(days=31)


def _window(window: TimeRange) -> Result[TimeRange, InvalidInput]:
    if window.duration > MAX_WINDOW:
        return Failure(InvalidInput(field="to", reason="window longer than 31 days"))
    return Success(window)


def calendar_slots(calendar: Calendar, window: TimeRange, now: datetime) -> list[Slot]:
    """The free slots starting in `window` that `calendar` leaves (the core decides)."""
    offering = calendar.offering
    if offering.kind is OfferingKind.SESSION:
        return availability.session_slots(offering, calendar.runs, calendar.taken, window, now)
    zone, hours, busy = calendar.place.zone, calendar.hours, calendar.busy
    return availability.appointment_slots(offering, zone, hours, busy, window, now)


def has_free_slot(calendar: Calendar, window: TimeRange, now: datetime) -> bool:
    """`bool(calendar_slots(...))`, stopping at the first free appointment slot."""
    offering = calendar.offering
    if offering.kind is OfferingKind.SESSION:
        return bool(calendar_slots(calendar, window, now))
    zone, hours, busy = calendar.place.zone, calendar.hours, calendar.busy
    return availability.has_free_slot(offering, zone, hours, busy, window, now)


@attrs.frozen(kw_only=True)
class GetAvailability(UseCase):
    """An offering's free slots in a window: one read, the core decides."""

    reads: AvailabilityReads
    clock: Clock

    async def __call__(
        self, offering_id: OfferingId, window: TimeRange
    ) -> Result[Sequence[Slot], DomainError]:
        checked = _window(window)
        if isinstance(checked, Failure):
            return checked
        now = self.clock.now()
        calendar = await self.reads.calendar(offering_id, window, now)
        if calendar is None:
            return Failure(NotFound(kind="offering", id=str(offering_id)))
        return Success(calendar_slots(calendar, window, now))


@attrs.frozen(kw_only=True)
class SearchPage:
    hits: Sequence[SearchHit]
    # Where to continue (as Page.after); None only once the search reached its end.
    next: str | None


@attrs.frozen(kw_only=True)
class SearchOfferings(UseCase):
    """Geo search; with `free_in`, only offerings with a free slot starting in that window.

    The free-slot filter is exact: it examines candidates in search order, (distance, id),
    and keeps those the core finds a free slot for, until the page is full. The work of one
    request is bounded by `settings.search_budget` candidates; when the budget runs out the page
    may be short, even empty, and `next` continues right after the last candidate examined,
    so following `next` until it is None finds every offering with a free slot, once, in order.
    """

    reads: AvailabilityReads
    clock: Clock
    settings: BookingSettings = attrs.field(factory=BookingSettings)

    async def __call__(
        self, query: SearchQuery, free_in: TimeRange | None = None
    ) -> Result[SearchPage, DomainError]:
        cursor = checked_search_cursor(query.page.after)
        if isinstance(cursor, Failure):
            return cursor
        if query.page.limit < 1:
            return Failure(InvalidInput(field="limit", reason="at least 1"))
        if free_in is None:
            return Success(await self._nearest(query))
        checked = _window(free_in)
        if isinstance(checked, Failure):
            return checked
        return Success(await self._with_free_slot(query, free_in))

    async def _nearest(self, query: SearchQuery) -> SearchPage:
        """One more than asked for: if it comes back, there is a next page."""
        wanted = query.page.limit
        one_more = Page(limit=wanted + 1, after=query.page.after)
        hits = await self.reads.search(attrs.evolve(query, page=one_more))
        more = len(hits) > wanted
        return SearchPage(hits=hits[:wanted], next=hits[wanted - 1].cursor if more else None)

    async def _with_free_slot(self, query: SearchQuery, free_in: TimeRange) -> SearchPage:
        scan = _Scan(wanted=query.page.limit, after=query.page.after)
        budget, now = self.settings.search_budget, self.clock.now()
        while scan.examined < budget:
            size = min(self.settings.search_batch, budget - scan.examined)
            page = Page(limit=size, after=scan.after)
            batch = await self.reads.candidates(attrs.evolve(query, page=page), free_in, now)
            if scan.take(batch, free_in, now, last=len(batch) < size):
                break
        return scan.page()


@attrs.define(kw_only=True)
class _Scan:
    """The progress of one filtered search request: what it found and where it stands."""

    wanted: int
    after: str | None  # the cursor of the last candidate examined (or the request's)
    found: list[SearchHit] = attrs.field(factory=list)
    examined: int = 0
    ended: bool = False  # the search has no candidate after `after`

    def take(
        self, batch: Sequence[Candidate], window: TimeRange, now: datetime, *, last: bool
    ) -> bool:
        """Examine `batch` in order; True when this request is done (full, or at the end).

        Once the page is full the rest of the batch (read anyway) is examined too, up to the
        next free one: candidates without a free slot are skipped for the next request, and
        reaching the end of the search this way spares the client an empty last page.
        """
        for candidate in batch:
            free = has_free_slot(candidate.calendar, window, now)
            if free and len(self.found) == self.wanted:
                return True  # `after` stays just before it: the next page starts there
            if free:
                self.found.append(candidate.hit)
            self.after, self.examined = candidate.cursor, self.examined + 1
        self.ended = last
        return last or len(self.found) == self.wanted

    def page(self) -> SearchPage:
        return SearchPage(hits=self.found, next=None if self.ended else self.after)
