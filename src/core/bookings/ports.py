"""What the bookings context needs from the outside world. Adapters subclass these."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

import attrs
from returns.result import Result

from core.bookings.model import (
    Booking,
    BookingStatus,
    Occurrence,
    Offering,
    OpeningHours,
    Place,
    Provider,
    Resource,
    SessionFull,
    SlotUnavailable,
)
from core.shared.events import Event
from core.shared.geo import GeoPoint
from core.shared.ids import (
    BookingId,
    OccurrenceId,
    OfferingId,
    PlaceId,
    ProviderId,
    ResourceId,
    UserId,
)
from core.shared.time import TimeRange
from core.shared.unit_of_work import Access, UnitOfWork


@attrs.frozen(kw_only=True)
class Page:
    limit: int
    after: str | None = None  # opaque cursor from the previous page


@attrs.frozen(kw_only=True)
class SearchQuery:
    near: GeoPoint
    radius_m: float
    category: str | None = None
    min_price_minor: int | None = None
    max_price_minor: int | None = None
    currency: str | None = None
    page: Page


@attrs.frozen(kw_only=True)
class SearchHit:
    offering: Offering
    place: Place
    distance_m: float
    cursor: str  # pass as Page.after to continue after this hit


class ProviderRepository(Protocol):
    async def add(self, provider: Provider) -> None: ...
    async def get(self, id: ProviderId) -> Provider | None: ...
    async def list(self, page: Page) -> Sequence[Provider]:
        """Ordered by id; the cursor is the last id."""
        ...


class PlaceRepository(Protocol):
    async def add(self, place: Place) -> None: ...
    async def get(self, id: PlaceId) -> Place | None: ...
    async def for_provider(self, provider_id: ProviderId) -> Sequence[Place]: ...
    async def hours(self, id: PlaceId) -> OpeningHours:
        """Empty hours (always closed) for a place that has none yet."""
        ...

    async def set_hours(self, hours: OpeningHours) -> None: ...


class ResourceRepository(Protocol):
    async def add(self, resource: Resource) -> None: ...
    async def get(self, id: ResourceId) -> Resource | None: ...
    async def for_provider(self, provider_id: ProviderId) -> Sequence[Resource]: ...


class OfferingRepository(Protocol):
    async def add(self, offering: Offering) -> None: ...
    async def get(self, id: OfferingId) -> Offering | None: ...
    async def for_provider(self, provider_id: ProviderId) -> Sequence[Offering]: ...
    async def search(self, query: SearchQuery) -> Sequence[SearchHit]:
        """Offerings whose place lies within radius, nearest first, then by id; keyset paged."""
        ...


class OccurrenceRepository(Protocol):
    async def add(self, occurrences: Sequence[Occurrence]) -> None: ...
    async def get(self, id: OccurrenceId) -> Occurrence | None: ...
    async def starting_in(
        self, offering_ids: Sequence[OfferingId], window: TimeRange
    ) -> Sequence[Occurrence]: ...


# What `BookingRepository.reinstate` answers for a booking someone moved first.
NOT_REINSTATABLE = SlotUnavailable(reason="the booking is no longer held or expired")


class BookingRepository(Protocol):
    """Integrity lives here: adds must be safe under any interleaving of concurrent callers."""

    async def get(self, id: BookingId) -> Booking | None: ...
    async def get_many(self, ids: Sequence[BookingId]) -> Sequence[Booking]:
        """Those of these bookings that exist, in any order; one read, however many ids."""
        ...

    async def cancelled_since(self, since: datetime, limit: int) -> Sequence[Booking]:
        """Bookings cancelled at or after `since`, by (cancelled_at, id) ascending."""
        ...

    async def for_customer(self, customer_id: UserId, page: Page) -> Sequence[Booking]:
        """Newest first by (created_at, id); the cursor is the id of the last booking seen."""
        ...

    async def for_provider(self, provider_id: ProviderId, page: Page) -> Sequence[Booking]: ...

    async def busy(
        self, resource_ids: Sequence[ResourceId], window: TimeRange, now: datetime
    ) -> dict[ResourceId, list[TimeRange]]:
        """`blocked` ranges of bookings live at `now` that overlap `window`, per resource."""
        ...

    async def seats_taken(
        self, occurrence_ids: Sequence[OccurrenceId], now: datetime
    ) -> dict[OccurrenceId, int]:
        """Seats held by bookings live at `now`; absent ids have none."""
        ...

    async def add_exclusive(self, booking: Booking, now: datetime) -> Result[None, SlotUnavailable]:
        """Insert an appointment unless a booking live at `now` on the same resource has an
        overlapping `blocked` range. Holds expired at `now` never block (marked expired)."""
        ...

    async def add_seated(
        self, booking: Booking, capacity: int, now: datetime
    ) -> Result[None, SessionFull]:
        """Insert a session booking only if live seats + booking.seats <= capacity."""
        ...

    async def reinstate(
        self, booking: Booking, now: datetime
    ) -> Result[None, SlotUnavailable | SessionFull]:
        """Confirm a booking stored held (live or not) or expired, if its slot is still free
        at `now` but for itself: an appointment overlaps no other booking live at `now` on its
        resource (holds expired at `now` are marked expired, as `add_exclusive` does), a
        session's seats still fit beside the other bookings live at `now`. Writes only the
        status (confirmed) and the hold expiry (none). SlotUnavailable also when the booking
        is no longer held or expired (someone moved it first)."""
        ...

    async def save(self, booking: Booking, expected: BookingStatus, now: datetime) -> bool:
        """Write a transition iff the stored status is still `expected` (and, for a hold, still
        unexpired at `now`); False means someone else moved it first."""
        ...


class ErasedCustomers(Protocol):
    """Which customers exercised erasure (their data key was shredded, docs/adr/0025). Their
    bookings stay in the providers' schedules, pseudonymous: staff see "erased customer"."""

    async def among(self, ids: Collection[UserId]) -> frozenset[UserId]:
        """Those of `ids` who were erased; one read, however many ids (none for no ids)."""
        ...


class BookingsUnitOfWork(UnitOfWork, Protocol):
    providers: ProviderRepository
    places: PlaceRepository
    resources: ResourceRepository
    offerings: OfferingRepository
    occurrences: OccurrenceRepository
    bookings: BookingRepository
    erased_customers: ErasedCustomers


class BookingMoves(Protocol):
    """A booking's transitions (confirm, cancel, complete, no-show) as two short transactions:
    one read, then one conditional write with its events. The write is the guard, so nothing
    is held between the two (issue 11: one round trip each on PostgreSQL)."""

    async def get(self, access: Access, id: BookingId) -> Booking | None:
        """The booking as stored, if it exists and `access` reaches it."""
        ...

    async def move(
        self,
        access: Access,
        after: Booking,
        expected: BookingStatus,
        now: datetime,
        events: Sequence[Event],
    ) -> bool:
        """Write `after`'s status, hold expiry and cancellation, and add `events` to the
        outbox, committed together, iff the stored status is still `expected` (and, for a
        hold, still unexpired at `now`). False, with nothing written: someone moved it first."""
        ...


class LapsedHolds(Protocol):
    """Holds past their expiry, marked expired by a periodic sweep. Reads already show them
    expired (`Booking.as_of`); the sweep makes the rows say so too."""

    async def expire(self, now: datetime, batch: int) -> int:
        """Mark at most `batch` holds whose expiry is at or before `now` expired, committed,
        skipping any that another transaction is writing; how many were marked."""


# ---------------------------------------------------------------- search and availability


@attrs.frozen(kw_only=True)
class Calendar:
    """What deciding an offering's free slots in a window takes, read together: the offering,
    its place, and (appointments) the place's opening hours and the busy ranges of the
    offering's resources, or (sessions) its runs and their seats taken."""

    offering: Offering
    place: Place
    # Weekly rules and at least the dated exceptions of every local date the window touches;
    # empty for a session.
    hours: OpeningHours
    # Appointments: per resource, the `blocked` ranges of bookings live at `now` overlapping
    # the window widened on both sides by duration + both buffers; a resource without any is
    # absent.
    busy: Mapping[ResourceId, Sequence[TimeRange]] = attrs.field(factory=dict)
    # Sessions: the runs starting in the window, by start, and the seats that bookings live
    # at `now` take of each; a run without any is absent.
    runs: Sequence[Occurrence] = ()
    taken: Mapping[OccurrenceId, int] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Candidate:
    """A search hit with its calendar, so the core can tell whether it has a free slot."""

    calendar: Calendar
    distance_m: float
    cursor: str  # pass as Page.after to continue after this candidate

    @property
    def hit(self) -> SearchHit:
        return SearchHit(
            offering=self.calendar.offering,
            place=self.calendar.place,
            distance_m=self.distance_m,
            cursor=self.cursor,
        )


class AvailabilityReads(Protocol):
    """The public reads of search and availability, each call one read transaction (one
    network round trip on PostgreSQL): the hot paths of browsing the catalog."""

    async def search(self, query: SearchQuery) -> Sequence[SearchHit]:
        """As `OfferingRepository.search`: within radius, by (distance, id), keyset paged; a
        malformed cursor matches nothing."""
        ...

    async def candidates(
        self, query: SearchQuery, window: TimeRange, now: datetime
    ) -> Sequence[Candidate]:
        """The hits `search(query)` answers, in the same order with the same cursors, each with
        its calendar for `window` at `now`."""
        ...

    async def calendar(
        self, offering_id: OfferingId, window: TimeRange, now: datetime
    ) -> Calendar | None:
        """The offering's calendar for `window` at `now`; None if there is no such offering."""


# ---------------------------------------------------------------- holds in one round trip


@attrs.frozen(kw_only=True)
class BookableOffering:
    """What deciding a hold needs of the catalog, read at one `version` of the place's catalog
    (`places.catalog_version`, bumped by every change to the place, its hours, its offerings and
    their resources and runs)."""

    offering: Offering
    place: Place
    hours: OpeningHours
    version: int


class BookableCatalog(Protocol):
    """Snapshots of offerings for deciding holds. Adapters may cache them, however long: every
    write names the version it decided with and is refused (`CatalogChanged`) if it moved."""

    async def offering(self, id: OfferingId) -> BookableOffering | None: ...
    async def occurrence(self, id: OccurrenceId) -> Occurrence | None: ...
    def forget(self, offering_id: OfferingId) -> None:
        """Drop what is cached of the offering (and its runs): the next read loads it anew."""
        ...


@attrs.frozen
class CatalogChanged:
    """The place's catalog moved past the version a decision was made with: forget, reload,
    decide again. Never shown to a client."""


@attrs.frozen
class BookingMoved:
    """A reschedule found the old booking no longer in the status it was read with."""


HoldRefused = SlotUnavailable | SessionFull | CatalogChanged
RescheduleRefused = HoldRefused | BookingMoved


class BookingHolds(Protocol):
    """A new booking written whole, in one transaction of its own (one round trip for PostGIS).

    The database decides: an appointment goes to the first of `candidates` (resource ids, in
    order) on which no booking live at `now` overlaps its `blocked` range, holds expired at
    `now` marked expired on the way; a session booking only if its seats fit beside the seats
    live at `now`, under the run's row lock, with the run's stored capacity. `events` are
    written to the outbox with it, and only with it. Refused when the place's catalog version is
    no longer `version`, or a session booking's run no longer matches it (`CatalogChanged`).
    """

    async def hold(
        self,
        access: Access,
        booking: Booking,
        candidates: Sequence[ResourceId],
        version: int,
        now: datetime,
        events: Sequence[Event],
    ) -> Result[Booking, HoldRefused]:
        """The booking as written (an appointment with the resource that serves it)."""
        ...

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
        """First moves the old booking to `rescheduled` iff it is still `expected_status` (and
        a hold still unexpired at `now`), else `BookingMoved`; then holds `new_booking` as
        `hold` does. Any refusal leaves the old booking untouched."""
        ...

    async def booking(self, access: Access, id: BookingId) -> Booking | None:
        """One booking as `access` may see it (row-level security), in one read."""
        ...
