"""Bookings: holding a slot, the transitions of a booking's life, rescheduling, and reading them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import attrs
from returns.result import Failure, Result, Success

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
from core.bookings.ports import BookingMoves, BookingsUnitOfWork, Page
from core.bookings.search import free_slots
from core.bookings.service import BookingsUseCase, managed_provider
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


class _BookingService(BookingsUseCase):
    async def _new_booking(
        self, uow: BookingsUnitOfWork, caller: Principal, req: SlotRequest, now: datetime
    ) -> Result[Booking, DomainError]:
        """Build a hold for the request and write it with the database's integrity checks."""
        if not 1 <= req.seats <= MAX_SEATS_PER_BOOKING:
            return Failure(InvalidInput(field="seats", reason=f"1 to {MAX_SEATS_PER_BOOKING}"))
        offering = await uow.offerings.get(req.offering_id)
        if offering is None:
            return Failure(NotFound(kind="offering", id=str(req.offering_id)))
        if offering.kind is OfferingKind.SESSION:
            return await self._hold_seats(uow, caller, offering, req, now)
        return await self._hold_appointment(uow, caller, offering, req, now)

    def _hold(
        self, caller: Principal, offering: Offering, during: TimeRange, now: datetime
    ) -> Booking:
        rules = offering.rules
        return Booking(
            id=BookingId(new_id()),
            offering_id=offering.id,
            provider_id=offering.provider_id,
            customer_id=caller.user_id,
            kind=offering.kind,
            during=during,
            blocked=during.widen(rules.buffer_before, rules.buffer_after),
            price=offering.price,
            status=BookingStatus.HELD,
            hold_expires_at=now + self.settings.hold_ttl,
            created_at=now,
        )

    async def _hold_appointment(
        self,
        uow: BookingsUnitOfWork,
        caller: Principal,
        offering: Offering,
        req: SlotRequest,
        now: datetime,
    ) -> Result[Booking, DomainError]:
        if req.start is None or req.seats != 1:
            return Failure(InvalidInput(field="start", reason="appointments need start, 1 seat"))
        start = to_utc(req.start)  # callers may pass any aware time; ranges are UTC
        if not offering.rules.bookable(start, now):
            return Failure(OutsideBookingWindow(reason="start is before lead time or past horizon"))
        probe = TimeRange(start, start + timedelta(seconds=1))
        offered = [
            s for s in await free_slots(uow, offering, probe, now) if s.during.start == start
        ]
        if not offered:
            return Failure(SlotUnavailable(reason="no free slot starts at that time"))
        candidates = offered[0].resource_ids
        if req.resource_id is not None:
            candidates = tuple(r for r in candidates if r == req.resource_id)
        for resource_id in candidates:
            booking = attrs.evolve(
                self._hold(caller, offering, offered[0].during, now), resource_id=resource_id
            )
            added = await uow.bookings.add_exclusive(booking, now)
            if isinstance(added, Success):
                return Success(booking)
        return Failure(SlotUnavailable())

    async def _hold_seats(
        self,
        uow: BookingsUnitOfWork,
        caller: Principal,
        offering: Offering,
        req: SlotRequest,
        now: datetime,
    ) -> Result[Booking, DomainError]:
        if req.occurrence_id is None:
            return Failure(InvalidInput(field="occurrence_id", reason="sessions need a run"))
        run = await uow.occurrences.get(req.occurrence_id)
        if run is None or run.offering_id != offering.id:
            return Failure(NotFound(kind="occurrence", id=str(req.occurrence_id)))
        if not offering.rules.bookable(run.during.start, now):
            return Failure(OutsideBookingWindow(reason="run is before lead time or past horizon"))
        booking = attrs.evolve(
            self._hold(caller, offering, run.during, now),
            occurrence_id=run.id,
            seats=req.seats,
            price=offering.price.times(req.seats),
        )
        added = await uow.bookings.add_seated(booking, run.capacity, now)
        if isinstance(added, Failure):
            return added
        return Success(booking)


class HoldSlot(_BookingService):
    async def __call__(self, caller: Principal, req: SlotRequest) -> Result[Booking, DomainError]:
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            held = await self._new_booking(uow, caller, req, now)
            if isinstance(held, Failure):
                return held
            await uow.outbox.add(held.unwrap().held_event())
            await uow.commit()
        return held


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


class RescheduleBooking(_BookingService):
    """Moves a booking atomically: the old slot is released only in the transaction that
    secures the new one, so a failure leaves the original booking untouched."""

    async def __call__(
        self, caller: Principal, booking_id: BookingId, to: SlotRequest
    ) -> Result[Booking, DomainError]:
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            found = await _visible(uow, caller, booking_id, staff_only=False)
            if isinstance(found, Failure):
                return found
            old = found.unwrap()
            if to.offering_id != old.offering_id:
                return Failure(InvalidInput(field="offering_id", reason="same offering only"))
            released = old.replace(now)
            if isinstance(released, Failure):
                return released
            replaced, event = released.unwrap()
            if not await uow.bookings.save(replaced, old.status, now):
                return Failure(SlotUnavailable(reason="the booking changed meanwhile; reload it"))
            customer = attrs.evolve(caller, user_id=old.customer_id)
            moved = await self._new_booking(uow, customer, to, now)
            if isinstance(moved, Failure):
                return moved  # leaving without commit rolls the release back
            new = attrs.evolve(
                moved.unwrap(),
                status=old.status,
                hold_expires_at=old.hold_expires_at,
                rescheduled_from=old.id,
            )
            await uow.bookings.save(new, BookingStatus.HELD, now)
            await uow.outbox.add(event, new.held_event())
            await uow.commit()
        return Success(new)
