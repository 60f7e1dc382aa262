"""In-memory fake of every bookings port, with the integrity semantics of the PostgreSQL adapter.
(One file of ~550 lines on purpose: its small transaction engine serves only these repositories.)

`MemoryBookingsStore` holds the committed data and hands out `MemoryBookingsUnitOfWork`s, one
per use-case call. Each unit of work is one transaction at READ COMMITTED:

- reads see the data committed so far plus the transaction's own uncommitted writes;
- writes become visible to other units of work only on `commit()`; leaving the block without
  committing rolls them back;
- the integrity operations (`add_exclusive`, `add_seated`, `reinstate`, `save`) wait, like row
  locks and exclusion constraints do, for any other open transaction that has uncommitted writes
  to a booking they depend on, then decide on the committed outcome. A wait that could never
  end (a cycle between transactions, or a unit of work waiting on another one opened by the
  same task) raises `MemoryDeadlock` instead of hanging, where PostgreSQL would report a deadlock.

Because asyncio runs one task at a time and nothing awaits between a check and its write, every
check-then-write here is atomic; commits need no lock for the same reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs
from returns.result import Failure, Result, Success

from adapters.memory.outbox import MemoryOutbox
from adapters.memory.transaction import MemoryTransaction
from core.bookings.cursors import parse_uuid, search_cursor, search_key
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
    normal_category,
)
from core.bookings.ports import (
    NOT_REINSTATABLE,
    BookingRepository,
    BookingsUnitOfWork,
    ErasedCustomers,
    OccurrenceRepository,
    OfferingRepository,
    Page,
    PlaceRepository,
    ProviderRepository,
    ResourceRepository,
    SearchHit,
    SearchQuery,
)
from core.shared.events import Event
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
from core.shared.unit_of_work import Access, UnitOfWorkFactory

K = TypeVar("K")
V = TypeVar("V")

REINSTATABLE = (BookingStatus.HELD, BookingStatus.EXPIRED)


class MemoryDeadlock(RuntimeError):
    """Two transactions would wait for each other forever."""


# ---------------------------------------------------------------- tables and transactions


class _Table(Generic[K, V]):
    """Committed rows of one table."""

    def __init__(self) -> None:
        self.rows: dict[K, V] = {}


class _Writes(Generic[K, V]):
    """One transaction's uncommitted rows of one table, over the committed ones."""

    def __init__(self, table: _Table[K, V]) -> None:
        self.table = table
        self.rows: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self.rows[key] if key in self.rows else self.table.rows.get(key)

    def all(self) -> list[V]:
        return list({**self.table.rows, **self.rows}.values())

    def put(self, key: K, value: V) -> None:
        self.rows[key] = value

    def publish(self) -> None:
        self.table.rows.update(self.rows)
        self.rows.clear()


class _Database:
    """Committed tables and events, and the transactions open on them."""

    def __init__(self) -> None:
        self.providers: _Table[ProviderId, Provider] = _Table()
        self.places: _Table[PlaceId, Place] = _Table()
        self.hours: _Table[PlaceId, OpeningHours] = _Table()
        self.resources: _Table[ResourceId, Resource] = _Table()
        self.offerings: _Table[OfferingId, Offering] = _Table()
        self.occurrences: _Table[OccurrenceId, Occurrence] = _Table()
        self.bookings: _Table[BookingId, Booking] = _Table()
        self.outbox: list[Event] = []
        self.open: list[_Tx] = []
        self.erased_customers: set[UserId] = set()  # whose data key was shredded
        # Each place's catalog version, bumped as PostgreSQL's triggers do (migration 0020).
        self.catalog_versions: dict[PlaceId, int] = {}


class _Tx:
    """The current transaction of one unit of work; reusable after it ends."""

    def __init__(self, db: _Database) -> None:
        self.db = db
        self.providers = _Writes(db.providers)
        self.places = _Writes(db.places)
        self.hours = _Writes(db.hours)
        self.resources = _Writes(db.resources)
        self.offerings = _Writes(db.offerings)
        self.occurrences = _Writes(db.occurrences)
        self.bookings = _Writes(db.bookings)
        self.ended = asyncio.Event()
        self.waiting_for: _Tx | None = None
        self.task: asyncio.Task[Any] | None = None

    def begin(self) -> None:
        self.task = asyncio.current_task()
        self.db.open.append(self)

    def commit(self, events: list[Event]) -> None:
        for place_id in self._catalog_changes():
            self.db.catalog_versions[place_id] = self.db.catalog_versions.get(place_id, 1) + 1
        for table in self._tables():
            table.publish()
        self.db.outbox.extend(events)
        self._end()

    def _catalog_changes(self) -> set[PlaceId]:
        """The places whose catalog this transaction changes: an existing place, its hours,
        its offerings, an existing run of one of them (new places and runs change nothing)."""
        changed = {id for id in self.places.rows if id in self.db.places.rows}
        changed |= set(self.hours.rows)
        for offering_id, offering in self.offerings.rows.items():
            before = self.db.offerings.rows.get(offering_id)
            changed |= {offering.place_id} | (set() if before is None else {before.place_id})
        for run_id, run in self.occurrences.rows.items():
            of_run = self.offerings.get(run.offering_id)
            if run_id in self.db.occurrences.rows and of_run is not None:
                changed.add(of_run.place_id)
        return changed

    def leave(self) -> None:
        """Roll back whatever was not committed and stop taking part."""
        for table in self._tables():
            table.rows.clear()
        self._end()
        self.db.open.remove(self)

    def _tables(self) -> tuple[_Writes[Any, Any], ...]:
        return (
            self.providers,
            self.places,
            self.hours,
            self.resources,
            self.offerings,
            self.occurrences,
            self.bookings,
        )

    def _end(self) -> None:
        """Wake whoever waits on this transaction; later writes form a new one."""
        self.ended.set()
        self.ended = asyncio.Event()

    async def wait_for_others(self, touches: Callable[[Booking], bool]) -> None:
        """Wait until no other open transaction has uncommitted writes to a booking that
        `touches` selects, as PostgreSQL waits on row locks and exclusion constraints."""
        while (blocker := self._blocker(touches)) is not None:
            self._refuse_deadlock(blocker)
            self.waiting_for = blocker
            try:
                await blocker.ended.wait()
            finally:
                self.waiting_for = None

    def _blocker(self, touches: Callable[[Booking], bool]) -> _Tx | None:
        """Judged by both the committed version of a written booking and the new one."""
        for other in self.db.open:
            if other is self:
                continue
            for key, written in other.bookings.rows.items():
                committed = self.db.bookings.rows.get(key)
                if touches(written) or (committed is not None and touches(committed)):
                    return other
        return None

    def _refuse_deadlock(self, blocker: _Tx) -> None:
        if blocker.task is not None and blocker.task is self.task:
            raise MemoryDeadlock("waiting on a transaction that this very task keeps open")
        chain: _Tx | None = blocker
        while chain is not None:
            if chain is self:
                raise MemoryDeadlock("transactions wait for each other")
            chain = chain.waiting_for


class MemoryBookingsStore(UnitOfWorkFactory[BookingsUnitOfWork]):
    """The shared state; calling it opens a new unit of work on it."""

    def __init__(self) -> None:
        self._db = _Database()

    def __call__(self, access: Access) -> MemoryBookingsUnitOfWork:
        """`access` is not enforced here: the use cases' own checks are the only wall."""
        return MemoryBookingsUnitOfWork(self._db)

    @property
    def outbox(self) -> tuple[Event, ...]:
        """Committed events, oldest first (what a relay would deliver)."""
        return tuple(self._db.outbox)

    def catalog_version(self, place_id: PlaceId) -> int:
        """The place's committed catalog version (1 until its catalog first changes)."""
        return self._db.catalog_versions.get(place_id, 1)

    def erase_customer(self, customer_id: UserId) -> None:
        """What shredding the person's data key means to this context (tests fill it)."""
        self._db.erased_customers.add(customer_id)

    def expire_lapsed_holds(self, now: datetime, batch: int) -> int:
        """At most `batch` committed holds whose expiry is at or before `now` become expired,
        oldest expiry first; one that an open transaction is writing is skipped, as SKIP
        LOCKED skips it (synchronous: no other task runs in between)."""
        written = {key for tx in self._db.open for key in tx.bookings.rows}
        lapsed = sorted(
            (
                b
                for b in self._db.bookings.rows.values()
                if b.status is BookingStatus.HELD and not b.is_live(now) and b.id not in written
            ),
            key=lambda b: (b.hold_expires_at, b.id),
        )[:batch]
        for hold in lapsed:
            self._db.bookings.rows[hold.id] = attrs.evolve(hold, status=BookingStatus.EXPIRED)
        return len(lapsed)


# ---------------------------------------------------------------- repositories


def _page(rows: list[V], limit: int) -> list[V]:
    return rows[: max(limit, 0)]


class MemoryProviderRepository(ProviderRepository):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def add(self, provider: Provider) -> None:
        self._tx.providers.put(provider.id, provider)

    async def get(self, id: ProviderId) -> Provider | None:
        return self._tx.providers.get(id)

    async def list(self, page: Page) -> Sequence[Provider]:
        rows = sorted(self._tx.providers.all(), key=lambda p: p.id)
        if page.after is not None:
            after = parse_uuid(page.after)
            rows = [p for p in rows if after is not None and p.id > after]
        return _page(rows, page.limit)


class MemoryPlaceRepository(PlaceRepository):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def add(self, place: Place) -> None:
        self._tx.places.put(place.id, place)

    async def get(self, id: PlaceId) -> Place | None:
        return self._tx.places.get(id)

    async def for_provider(self, provider_id: ProviderId) -> Sequence[Place]:
        return sorted(
            (p for p in self._tx.places.all() if p.provider_id == provider_id), key=lambda p: p.id
        )

    async def hours(self, id: PlaceId) -> OpeningHours:
        return self._tx.hours.get(id) or OpeningHours(place_id=id)

    async def set_hours(self, hours: OpeningHours) -> None:
        self._tx.hours.put(hours.place_id, hours)


class MemoryResourceRepository(ResourceRepository):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def add(self, resource: Resource) -> None:
        self._tx.resources.put(resource.id, resource)

    async def get(self, id: ResourceId) -> Resource | None:
        return self._tx.resources.get(id)

    async def for_provider(self, provider_id: ProviderId) -> Sequence[Resource]:
        return sorted(
            (r for r in self._tx.resources.all() if r.provider_id == provider_id),
            key=lambda r: r.id,
        )


class MemoryOfferingRepository(OfferingRepository):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def add(self, offering: Offering) -> None:
        self._tx.offerings.put(offering.id, offering)

    async def get(self, id: OfferingId) -> Offering | None:
        return self._tx.offerings.get(id)

    async def for_provider(self, provider_id: ProviderId) -> Sequence[Offering]:
        return sorted(
            (o for o in self._tx.offerings.all() if o.provider_id == provider_id),
            key=lambda o: o.id,
        )

    async def search(self, query: SearchQuery) -> Sequence[SearchHit]:
        """A malformed cursor matches nothing (cursors are opaque; only ours are valid)."""
        after = None if query.page.after is None else search_key(query.page.after)
        if query.page.after is not None and after is None:
            return []
        hits = sorted(
            (
                (place.point.distance_m(query.near), offering, place)
                for offering in self._tx.offerings.all()
                if _matches(offering, query)
                and (place := self._tx.places.get(offering.place_id)) is not None
            ),
            key=lambda hit: (hit[0], hit[1].id),
        )
        return _page(
            [
                SearchHit(
                    offering=offering,
                    place=place,
                    distance_m=distance,
                    cursor=search_cursor(distance, offering.id),
                )
                for distance, offering, place in hits
                if distance <= query.radius_m and (after is None or (distance, offering.id) > after)
            ],
            query.page.limit,
        )


def _matches(offering: Offering, query: SearchQuery) -> bool:
    price = offering.price
    return (
        (query.category is None or offering.category == normal_category(query.category))
        and (query.currency is None or price.currency.code == query.currency.upper())
        and (query.min_price_minor is None or price.minor >= query.min_price_minor)
        and (query.max_price_minor is None or price.minor <= query.max_price_minor)
    )


class MemoryOccurrenceRepository(OccurrenceRepository):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def add(self, occurrences: Sequence[Occurrence]) -> None:
        for run in occurrences:
            self._tx.occurrences.put(run.id, run)

    async def get(self, id: OccurrenceId) -> Occurrence | None:
        return self._tx.occurrences.get(id)

    async def starting_in(
        self, offering_ids: Sequence[OfferingId], window: TimeRange
    ) -> Sequence[Occurrence]:
        wanted = set(offering_ids)
        return sorted(
            (
                run
                for run in self._tx.occurrences.all()
                if run.offering_id in wanted and window.start <= run.during.start < window.end
            ),
            key=lambda run: (run.during.start, run.id),
        )


class MemoryBookingRepository(BookingRepository):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def get(self, id: BookingId) -> Booking | None:
        return self._tx.bookings.get(id)

    async def get_many(self, ids: Sequence[BookingId]) -> Sequence[Booking]:
        found = (self._tx.bookings.get(id) for id in dict.fromkeys(ids))
        return [booking for booking in found if booking is not None]

    async def cancelled_since(self, since: datetime, limit: int) -> Sequence[Booking]:
        found = [
            b
            for b in self._tx.bookings.all()
            if b.cancelled_at is not None and b.cancelled_at >= since
        ]
        found.sort(key=lambda b: (b.cancelled_at, b.id))
        return found[:limit]

    async def for_customer(self, customer_id: UserId, page: Page) -> Sequence[Booking]:
        return self._newest_first(lambda b: b.customer_id == customer_id, page)

    async def for_provider(self, provider_id: ProviderId, page: Page) -> Sequence[Booking]:
        return self._newest_first(lambda b: b.provider_id == provider_id, page)

    def _newest_first(self, wanted: Callable[[Booking], bool], page: Page) -> list[Booking]:
        """By (created_at, id) descending, after the booking whose id is the cursor; a cursor
        naming no booking matches nothing."""
        rows = sorted(
            (b for b in self._tx.bookings.all() if wanted(b)),
            key=lambda b: (b.created_at, b.id),
            reverse=True,
        )
        if page.after is not None:
            after = parse_uuid(page.after)
            last = None if after is None else self._tx.bookings.get(BookingId(after))
            if last is None:
                return []
            rows = [b for b in rows if (b.created_at, b.id) < (last.created_at, last.id)]
        return _page(rows, page.limit)

    async def busy(
        self, resource_ids: Sequence[ResourceId], window: TimeRange, now: datetime
    ) -> dict[ResourceId, list[TimeRange]]:
        wanted = set(resource_ids)
        busy: dict[ResourceId, list[TimeRange]] = {}
        for booking in self._tx.bookings.all():
            resource_id = booking.resource_id
            if (
                resource_id is not None
                and resource_id in wanted
                and booking.is_live(now)
                and booking.blocked.overlaps(window)
            ):
                busy.setdefault(resource_id, []).append(booking.blocked)
        for ranges in busy.values():
            ranges.sort()
        return busy

    async def seats_taken(
        self, occurrence_ids: Sequence[OccurrenceId], now: datetime
    ) -> dict[OccurrenceId, int]:
        wanted = set(occurrence_ids)
        taken: dict[OccurrenceId, int] = {}
        for booking in self._tx.bookings.all():
            run = booking.occurrence_id
            if run is not None and run in wanted and booking.is_live(now):
                taken[run] = taken.get(run, 0) + booking.seats
        return taken

    async def add_exclusive(self, booking: Booking, now: datetime) -> Result[None, SlotUnavailable]:
        clashing = await self._overlapping(booking, now)
        if any(b.is_live(now) for b in clashing):
            return Failure(SlotUnavailable())
        self._tx.bookings.put(booking.id, booking)
        return Success(None)

    async def _overlapping(self, booking: Booking, now: datetime) -> list[Booking]:
        """The bookings of `booking`'s resource whose blocked ranges overlap its own (itself
        included, if stored), once no other open transaction writes one; those of them that
        are holds expired at `now` are marked expired, as PostgreSQL's adapter does."""
        if booking.resource_id is None:
            raise ValueError("an exclusive booking needs a resource")

        def same_place_and_time(other: Booking) -> bool:
            return other.resource_id == booking.resource_id and other.blocked.overlaps(
                booking.blocked
            )

        await self._tx.wait_for_others(same_place_and_time)
        overlapping = [b for b in self._tx.bookings.all() if same_place_and_time(b)]
        for stale in overlapping:
            if stale.status is BookingStatus.HELD and not stale.is_live(now):
                self._tx.bookings.put(stale.id, attrs.evolve(stale, status=BookingStatus.EXPIRED))
        return overlapping

    async def add_seated(
        self, booking: Booking, capacity: int, now: datetime
    ) -> Result[None, SessionFull]:
        if booking.occurrence_id is None:
            raise ValueError("a seated booking needs an occurrence")

        def same_run(other: Booking) -> bool:
            return other.occurrence_id == booking.occurrence_id

        await self._tx.wait_for_others(same_run)
        taken = sum(b.seats for b in self._tx.bookings.all() if same_run(b) and b.is_live(now))
        if taken + booking.seats > capacity:
            return Failure(SessionFull(seats_left=max(capacity - taken, 0)))
        self._tx.bookings.put(booking.id, booking)
        return Success(None)

    async def reinstate(
        self, booking: Booking, now: datetime
    ) -> Result[None, SlotUnavailable | SessionFull]:
        """In PostgreSQL's order: appointments expire stale holds, then the conditional update
        finds the row or not, then the constraint decides; sessions count seats first."""
        if booking.occurrence_id is not None:
            return await self._reinstate_seats(booking, booking.occurrence_id, now)
        clashing = [b for b in await self._overlapping(booking, now) if b.id != booking.id]
        stored = self._reinstatable(booking.id)
        if stored is None:
            return Failure(NOT_REINSTATABLE)
        if any(b.is_live(now) for b in clashing):
            return Failure(SlotUnavailable())
        self._confirm(stored)
        return Success(None)

    async def _reinstate_seats(
        self, booking: Booking, occurrence_id: OccurrenceId, now: datetime
    ) -> Result[None, SlotUnavailable | SessionFull]:
        def same_run(other: Booking) -> bool:
            return other.occurrence_id == occurrence_id

        await self._tx.wait_for_others(same_run)
        run = self._tx.occurrences.get(occurrence_id)
        if run is None:
            raise ValueError(f"no occurrence {occurrence_id}")
        others = (b for b in self._tx.bookings.all() if same_run(b) and b.id != booking.id)
        taken = sum(b.seats for b in others if b.is_live(now))
        if taken + booking.seats > run.capacity:
            return Failure(SessionFull(seats_left=max(run.capacity - taken, 0)))
        stored = self._reinstatable(booking.id)
        if stored is None:
            return Failure(NOT_REINSTATABLE)
        self._confirm(stored)
        return Success(None)

    def _reinstatable(self, id: BookingId) -> Booking | None:
        stored = self._tx.bookings.get(id)
        return stored if stored is not None and stored.status in REINSTATABLE else None

    def _confirm(self, stored: Booking) -> None:
        confirmed = attrs.evolve(stored, status=BookingStatus.CONFIRMED, hold_expires_at=None)
        self._tx.bookings.put(stored.id, confirmed)

    async def save(self, booking: Booking, expected: BookingStatus, now: datetime) -> bool:
        await self._tx.wait_for_others(lambda other: other.id == booking.id)
        stored = self._tx.bookings.get(booking.id)
        if stored is None or stored.status is not expected:
            return False
        if expected is BookingStatus.HELD and not stored.is_live(now):
            return False
        self._tx.bookings.put(booking.id, booking)
        return True


class MemoryErasedCustomers(ErasedCustomers):
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def among(self, ids: Collection[UserId]) -> frozenset[UserId]:
        return frozenset(ids) & frozenset(self._db.erased_customers)


# ---------------------------------------------------------------- unit of work


class MemoryBookingsUnitOfWork(MemoryTransaction, BookingsUnitOfWork):
    """One transaction over a `MemoryBookingsStore` (make it by calling the store)."""

    def __init__(self, db: _Database) -> None:
        self._tx = _Tx(db)
        self.providers = MemoryProviderRepository(self._tx)
        self.places = MemoryPlaceRepository(self._tx)
        self.resources = MemoryResourceRepository(self._tx)
        self.offerings = MemoryOfferingRepository(self._tx)
        self.occurrences = MemoryOccurrenceRepository(self._tx)
        self.bookings = MemoryBookingRepository(self._tx)
        self.erased_customers = MemoryErasedCustomers(db)
        self.outbox = MemoryOutbox()

    async def _begin(self) -> None:
        self._tx.begin()

    def _discard(self) -> None:
        self.outbox.drop()
        self._tx.leave()

    async def commit(self) -> None:
        self._tx.commit(self.outbox.take())
