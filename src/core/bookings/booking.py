"""Bookings: holding a slot, the transitions of a booking's life, rescheduling, and reading them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import attrs
from returns.result import Failure, Result, Success

from core.bookings.availability import appointment_slots
from core.bookings.cursors import id_cursor, invalid_cursor
from core.bookings.model import (
    Booking,
    BookingStatus,
    CancelledBy,
    HoldExpired,
    Offering,
    OfferingKind,
    OutsideBookingWindow,
    PaymentRequired,
    SlotUnavailable,
)
from core.bookings.ports import (
    BookableCatalog,
    BookableOffering,
    BookingHolds,
    BookingMoved,
    BookingMoves,
    BookingsUnitOfWork,
    CatalogChanged,
    Page,
    RescheduleRefused,
)
from core.bookings.service import BookingSettings, BookingsUseCase, managed_provider
from core.shared.errors import DomainError, InvalidInput, NotFound
from core.shared.events import Event
from core.shared.ids import (
    BookingId,
    OccurrenceId,
    OfferingId,
    ProviderId,
    ResourceId,
    UserId,
    new_id,
)
from core.shared.principal import Principal, may_manage
from core.shared.time import Clock, TimeRange, to_utc
from core.shared.unit_of_work import Access
from core.shared.use_case import UseCase

MAX_SEATS_PER_BOOKING = 50


@attrs.frozen(kw_only=True)
class SlotRequest:
    """Appointments name `start` (and optionally a resource); sessions name the occurrence."""

    offering_id: OfferingId
    start: datetime | None = None
    resource_id: ResourceId | None = None
    occurrence_id: OccurrenceId | None = None
    seats: int = 1


# The first decision, then at most twice more after the catalog moved under it.
CATALOG_ATTEMPTS = 3
_PROBE = timedelta(seconds=1)


@attrs.frozen(kw_only=True)
class _Decision:
    """A booking decided on a catalog snapshot: the database writes it or says why not."""

    booking: Booking
    candidates: tuple[ResourceId, ...]  # appointments: resources to try, in order
    version: int  # the place's catalog version the decision was made with


# How a write that could not land is told: the closed union of domain errors callers know.
_MOVED = SlotUnavailable(reason="the booking changed meanwhile; reload it")
_CATALOG_KEPT_MOVING = SlotUnavailable(reason="the offering changed meanwhile; try again")


def _refused_on_snapshot(error: DomainError) -> bool:
    """Refusals that a stale snapshot could make wrongly (an unknown offering is never cached)."""
    if isinstance(error, NotFound):
        return error.kind == "occurrence"
    return isinstance(error, SlotUnavailable | OutsideBookingWindow)


@attrs.frozen(kw_only=True)
class _Holding(UseCase):
    """Holds and reschedules: decided in the core on a cached catalog snapshot, written in one
    round trip that checks the snapshot's version (docs/adr/0030-holds-in-one-round-trip.md)."""

    catalog: BookableCatalog
    holds: BookingHolds
    clock: Clock
    settings: BookingSettings = attrs.field(factory=BookingSettings)

    async def _write(
        self,
        customer_id: UserId,
        req: SlotRequest,
        now: datetime,
        write: Callable[[_Decision], Awaitable[Result[Booking, RescheduleRefused]]],
    ) -> Result[Booking, DomainError]:
        """Decide and write. A cached snapshot may only ever allow: the write checks its
        version, and when the catalog moved, or when the snapshot refused, it is forgotten and
        the request decided again on one read now (so hours opened or closed by another
        process are obeyed both ways)."""
        fresh = False  # whether the snapshot decided with was read during this call
        for _ in range(CATALOG_ATTEMPTS):
            decided = await self._decide(customer_id, req, now)
            if isinstance(decided, Failure):
                if fresh or not _refused_on_snapshot(decided.failure()):
                    return decided
            else:
                written = await write(decided.unwrap())
                if isinstance(written, Success):
                    return Success(written.unwrap())
                refused = written.failure()
                if not isinstance(refused, CatalogChanged):
                    return Failure(_MOVED if isinstance(refused, BookingMoved) else refused)
            self.catalog.forget(req.offering_id)
            fresh = True
        return Failure(_CATALOG_KEPT_MOVING)

    async def _decide(
        self, customer_id: UserId, req: SlotRequest, now: datetime
    ) -> Result[_Decision, DomainError]:
        if not 1 <= req.seats <= MAX_SEATS_PER_BOOKING:
            return Failure(InvalidInput(field="seats", reason=f"1 to {MAX_SEATS_PER_BOOKING}"))
        snapshot = await self.catalog.offering(req.offering_id)
        if snapshot is None:
            return Failure(NotFound(kind="offering", id=str(req.offering_id)))
        if snapshot.offering.kind is OfferingKind.SESSION:
            return await self._decide_seats(customer_id, snapshot, req, now)
        return self._decide_appointment(customer_id, snapshot, req, now)

    def _hold(
        self, customer_id: UserId, offering: Offering, during: TimeRange, now: datetime
    ) -> Booking:
        rules = offering.rules
        return Booking(
            id=BookingId(new_id()),
            offering_id=offering.id,
            provider_id=offering.provider_id,
            customer_id=customer_id,
            kind=offering.kind,
            during=during,
            blocked=during.widen(rules.buffer_before, rules.buffer_after),
            price=offering.price,
            status=BookingStatus.HELD,
            hold_expires_at=now + self.settings.hold_ttl,
            created_at=now,
        )

    def _decide_appointment(
        self, customer_id: UserId, snapshot: BookableOffering, req: SlotRequest, now: datetime
    ) -> Result[_Decision, DomainError]:
        """`start` must be a slot start of the opening hours; who is busy then is for the
        database to find, resource by resource."""
        offering = snapshot.offering
        if req.start is None or req.seats != 1:
            return Failure(InvalidInput(field="start", reason="appointments need start, 1 seat"))
        start = to_utc(req.start)  # callers may pass any aware time; ranges are UTC
        if not offering.rules.bookable(start, now):
            return Failure(OutsideBookingWindow(reason="start is before lead time or past horizon"))
        probe = TimeRange(start, start + _PROBE)
        slots = appointment_slots(offering, snapshot.place.zone, snapshot.hours, {}, probe, now)
        slot = next((s for s in slots if s.during.start == start), None)
        if slot is None:
            return Failure(SlotUnavailable(reason="no free slot starts at that time"))
        candidates = offering.resource_ids
        if req.resource_id is not None:
            candidates = tuple(r for r in candidates if r == req.resource_id)
        if not candidates:
            return Failure(SlotUnavailable())
        booking = self._hold(customer_id, offering, slot.during, now)
        booking = attrs.evolve(booking, resource_id=candidates[0])
        return Success(_Decision(booking=booking, candidates=candidates, version=snapshot.version))

    async def _decide_seats(
        self, customer_id: UserId, snapshot: BookableOffering, req: SlotRequest, now: datetime
    ) -> Result[_Decision, DomainError]:
        """The run's capacity is the database's to read, under the run's row lock."""
        offering = snapshot.offering
        if req.occurrence_id is None:
            return Failure(InvalidInput(field="occurrence_id", reason="sessions need a run"))
        run = await self.catalog.occurrence(req.occurrence_id)
        if run is None or run.offering_id != offering.id:
            return Failure(NotFound(kind="occurrence", id=str(req.occurrence_id)))
        if not offering.rules.bookable(run.during.start, now):
            return Failure(OutsideBookingWindow(reason="run is before lead time or past horizon"))
        booking = attrs.evolve(
            self._hold(customer_id, offering, run.during, now),
            occurrence_id=run.id,
            seats=req.seats,
            price=offering.price.times(req.seats),
        )
        return Success(_Decision(booking=booking, candidates=(), version=snapshot.version))


class HoldSlot(_Holding):
    async def __call__(self, caller: Principal, req: SlotRequest) -> Result[Booking, DomainError]:
        now = self.clock.now()
        access = Access.of(caller)

        async def write(decided: _Decision) -> Result[Booking, RescheduleRefused]:
            booking = decided.booking
            return await self.holds.hold(
                access, booking, decided.candidates, decided.version, now, [booking.held_event()]
            )

        return await self._write(caller.user_id, req, now, write)


async def _visible(
    uow: BookingsUnitOfWork, caller: Principal, booking_id: BookingId, *, staff_only: bool
) -> Result[Booking, DomainError]:
    """A booking its customer, its provider's staff or an admin may see; others get 404."""
    booking = await uow.bookings.get(booking_id)
    return _seen_by(caller, booking_id, booking, staff_only=staff_only)


def _seen_by(
    caller: Principal, booking_id: BookingId, booking: Booking | None, *, staff_only: bool
) -> Result[Booking, DomainError]:
    """`booking` (read under `booking_id`) if `caller` may see it, as `_visible` says."""
    if booking is None:
        return Failure(NotFound(kind="booking", id=str(booking_id)))
    if caller.manages(booking.provider_id):
        return may_manage(caller, booking.provider_id).map(lambda _: booking)
    if booking.customer_id == caller.user_id and not staff_only:
        return Success(booking)
    return Failure(NotFound(kind="booking", id=str(booking_id)))


@attrs.frozen(kw_only=True)
class BookingView:
    """One booking as its reader sees it. The provider's staff and admins are also told
    whether its customer was erased (the schedule shows "erased customer"); its customer's
    own view says nothing more (`customer_erased` None)."""

    booking: Booking
    customer_erased: bool | None = None


@attrs.frozen(kw_only=True)
class ProviderBookings:
    """A page of a provider's bookings as its staff see it, and which of their customers were
    erased: those bookings stay in the schedule, as "erased customer"."""

    bookings: Sequence[Booking]
    erased_customers: frozenset[UserId] = frozenset()


async def _erased_among(uow: BookingsUnitOfWork, found: Sequence[Booking]) -> frozenset[UserId]:
    """One read for a whole page, none for an empty one."""
    customers = {booking.customer_id for booking in found}
    return await uow.erased_customers.among(customers) if customers else frozenset()


class GetBooking(BookingsUseCase):
    async def __call__(
        self, caller: Principal, booking_id: BookingId
    ) -> Result[BookingView, DomainError]:
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            found = await _visible(uow, caller, booking_id, staff_only=False)
            if isinstance(found, Failure):
                return found
            booking = found.unwrap().as_of(now)
            if not caller.manages(booking.provider_id):
                return Success(BookingView(booking=booking))
            erased = await _erased_among(uow, [booking])
        return Success(BookingView(booking=booking, customer_erased=booking.customer_id in erased))


async def _anchor_in(
    uow: BookingsUnitOfWork, page: Page, belongs: Callable[[Booking], bool]
) -> Result[None, DomainError]:
    """A bookings cursor is the id of the last booking of the previous page of this list."""
    anchor_id = id_cursor(page.after)
    if isinstance(anchor_id, Failure):
        return anchor_id
    found = anchor_id.unwrap()
    if found is None:
        return Success(None)
    anchor = await uow.bookings.get(BookingId(found))
    if anchor is None or not belongs(anchor):
        return Failure(invalid_cursor())
    return Success(None)


class ListMyBookings(BookingsUseCase):
    async def __call__(
        self, caller: Principal, page: Page
    ) -> Result[Sequence[Booking], DomainError]:
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            mine = await _anchor_in(uow, page, lambda b: b.customer_id == caller.user_id)
            if isinstance(mine, Failure):
                return mine
            found = await uow.bookings.for_customer(caller.user_id, page)
        return Success([booking.as_of(now) for booking in found])


class ListProviderBookings(BookingsUseCase):
    async def __call__(
        self, caller: Principal, provider_id: ProviderId, page: Page
    ) -> Result[ProviderBookings, DomainError]:
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            provider = await managed_provider(uow, caller, provider_id)
            if isinstance(provider, Failure):
                return provider
            theirs = await _anchor_in(uow, page, lambda b: b.provider_id == provider_id)
            if isinstance(theirs, Failure):
                return theirs
            found = await uow.bookings.for_provider(provider_id, page)
            erased = await _erased_among(uow, found)
        return Success(
            ProviderBookings(
                bookings=[booking.as_of(now) for booking in found], erased_customers=erased
            )
        )


@attrs.frozen(kw_only=True)
class _Transition(UseCase):
    """Read, check who may act, apply the transition, write it iff nobody moved it first:
    two short transactions (`BookingMoves`), the write's condition being the guard."""

    moves: BookingMoves
    clock: Clock
    staff_only = False  # a class setting, not a field

    def _apply(
        self, caller: Principal, booking: Booking, at: datetime
    ) -> Result[tuple[Booking, Event], DomainError]:
        raise NotImplementedError

    async def __call__(
        self, caller: Principal, booking_id: BookingId
    ) -> Result[Booking, DomainError]:
        now = self.clock.now()
        access = Access.of(caller)
        stored = await self.moves.get(access, booking_id)
        found = _seen_by(caller, booking_id, stored, staff_only=self.staff_only)
        if isinstance(found, Failure):
            return found
        booking = found.unwrap()
        moved = self._apply(caller, booking, now)
        if isinstance(moved, Failure):
            return moved
        after, event = moved.unwrap()
        if not await self.moves.move(access, after, booking.status, now, (event,)):
            return Failure(_moved_meanwhile(booking))
        return Success(after)


def _moved_meanwhile(booking: Booking) -> DomainError:
    if booking.status is BookingStatus.HELD:
        return HoldExpired()
    return SlotUnavailable(reason="the booking changed meanwhile; reload it")


class ConfirmBooking(_Transition):
    """Confirms a live hold by hand.

    Its customer confirms a free hold (price 0). A priced hold is confirmed by paying for it:
    its customer gets PaymentRequired, and the payments context calls ConfirmPaidBooking once
    the money has arrived. The provider's staff and admins may still confirm a priced hold,
    for a payment taken outside the platform (at the venue, by invoice); its event then says
    `"paid": false`. A hold that is not live answers as before (HoldExpired,
    InvalidTransition), whoever asks.
    """

    def _apply(
        self, caller: Principal, booking: Booking, at: datetime
    ) -> Result[tuple[Booking, Event], DomainError]:
        live_hold = booking.status_at(at) is BookingStatus.HELD
        if live_hold and booking.price.minor > 0 and not caller.manages(booking.provider_id):
            return Failure(PaymentRequired(booking_id=booking.id))
        return booking.confirm(at)


class CancelBooking(_Transition):
    """The booking's customer, or its provider's staff or an admin (then the provider is the
    one who cancelled, as the booking records)."""

    def _apply(
        self, caller: Principal, booking: Booking, at: datetime
    ) -> Result[tuple[Booking, Event], DomainError]:
        by = CancelledBy.PROVIDER if caller.manages(booking.provider_id) else CancelledBy.CUSTOMER
        return booking.cancel(at, by)


class CompleteBooking(_Transition):
    staff_only = True

    def _apply(
        self, caller: Principal, booking: Booking, at: datetime
    ) -> Result[tuple[Booking, Event], DomainError]:
        return booking.complete(at)


class MarkNoShow(_Transition):
    staff_only = True

    def _apply(
        self, caller: Principal, booking: Booking, at: datetime
    ) -> Result[tuple[Booking, Event], DomainError]:
        return booking.no_show(at)


class RescheduleBooking(_Holding):
    """Moves a booking atomically: the old slot is released only in the transaction that
    secures the new one, so a failure leaves the original booking untouched. One round trip
    reads the old booking, one writes both sides."""

    async def __call__(
        self, caller: Principal, booking_id: BookingId, to: SlotRequest
    ) -> Result[Booking, DomainError]:
        now = self.clock.now()
        access = Access.of(caller)
        stored = await self.holds.booking(access, booking_id)
        found = _seen_by(caller, booking_id, stored, staff_only=False)
        if isinstance(found, Failure):
            return found
        old = found.unwrap()
        if to.offering_id != old.offering_id:
            return Failure(InvalidInput(field="offering_id", reason="same offering only"))
        released = old.replace(now)
        if isinstance(released, Failure):
            return released
        _, old_event = released.unwrap()

        async def write(decided: _Decision) -> Result[Booking, RescheduleRefused]:
            new = attrs.evolve(
                decided.booking,
                status=old.status,
                hold_expires_at=old.hold_expires_at,
                rescheduled_from=old.id,
            )
            events = [old_event, new.held_event()]
            return await self.holds.reschedule(
                access, old.id, old.status, new, decided.candidates, decided.version, now, events
            )

        return await self._write(old.customer_id, to, now, write)
