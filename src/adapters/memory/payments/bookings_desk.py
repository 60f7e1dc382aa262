"""A fake of the bookings context as payments sees it (the `BookingDesk` port).

Bookings are held, confirmed, cancelled, completed or rescheduled by test controls; the port's
calls follow the bookings context's rules: who may see and cancel a booking, a hold expiring,
and `confirm_paid` taking an expired hold again only while its slot is free.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import attrs
from returns.result import Failure, Result, Success

from core.bookings.model import BookingStatus, InvalidTransition, SlotUnavailable
from core.payments.ports import BookingDesk, BookingState, PayableBooking
from core.payments.terms import Canceller
from core.shared.errors import DomainError, NotFound
from core.shared.ids import BookingId, OfferingId, ProviderId, UserId
from core.shared.money import Money
from core.shared.principal import Principal, may_manage
from core.shared.time import Clock

HOLD_TTL = timedelta(minutes=10)
_STATES = {
    BookingStatus.HELD: BookingState.HELD,
    BookingStatus.CONFIRMED: BookingState.CONFIRMED,
    BookingStatus.EXPIRED: BookingState.EXPIRED,
    BookingStatus.CANCELLED: BookingState.CANCELLED,
}


@attrs.define(kw_only=True)
class _Booking:
    booking: PayableBooking
    status: BookingStatus
    slot: str  # bookings of the same slot exclude each other while live

    def status_at(self, now: datetime) -> BookingStatus:
        expires = self.booking.hold_expires_at
        if self.status is BookingStatus.HELD and expires is not None and now >= expires:
            return BookingStatus.EXPIRED
        return self.status

    def live(self, now: datetime) -> bool:
        return self.status_at(now) in (BookingStatus.HELD, BookingStatus.CONFIRMED)

    def read(self, now: datetime) -> PayableBooking:
        state = _STATES.get(self.status_at(now), BookingState.OTHER)
        return attrs.evolve(self.booking, state=state)


class MemoryBookingDesk(BookingDesk):
    def __init__(self, clock: Clock, hold_ttl: timedelta = HOLD_TTL) -> None:
        self._clock = clock
        self._hold_ttl = hold_ttl
        self._offerings: dict[OfferingId, ProviderId] = {}
        self._bookings: dict[BookingId, _Booking] = {}
        self.confirmations: list[BookingId] = []  # every confirm_paid call, for tests
        self._down = False

    # --- the port ------------------------------------------------------------------------

    async def payable(
        self, caller: Principal, booking_id: BookingId
    ) -> Result[PayableBooking, DomainError]:
        found = self._visible(caller, booking_id)
        return found.map(lambda b: b.read(self._clock.now()))

    async def read(self, ids: Sequence[BookingId]) -> Mapping[BookingId, PayableBooking]:
        now = self._clock.now()
        return {i: self._bookings[i].read(now) for i in ids if i in self._bookings}

    async def confirm_paid(self, booking_id: BookingId) -> Result[PayableBooking, DomainError]:
        if self._down:
            self._down = False
            raise ConnectionError("the bookings context did not answer")
        self.confirmations.append(booking_id)
        now = self._clock.now()
        found = self._bookings.get(booking_id)
        if found is None:
            return Failure(NotFound(kind="booking", id=str(booking_id)))
        status = found.status_at(now)
        if status is BookingStatus.EXPIRED and self._taken(found, now):
            return Failure(SlotUnavailable(reason="the hold expired and the slot was booked"))
        if status not in (BookingStatus.HELD, BookingStatus.EXPIRED, BookingStatus.CONFIRMED):
            return Failure(InvalidTransition(status, "confirm"))
        found.status = BookingStatus.CONFIRMED
        return Success(found.read(now))

    async def cancel(
        self, caller: Principal, booking_id: BookingId
    ) -> Result[PayableBooking, DomainError]:
        visible = self._visible(caller, booking_id)
        if isinstance(visible, Failure):
            return visible
        found, now = visible.unwrap(), self._clock.now()
        if not found.live(now):
            return Failure(InvalidTransition(found.status_at(now), "cancel"))
        by = Canceller.PROVIDER if caller.manages(found.booking.provider_id) else Canceller.CUSTOMER
        self._set(found, BookingStatus.CANCELLED, cancelled_at=now, cancelled_by=by)
        return Success(found.read(now))

    async def offering_provider(self, offering_id: OfferingId) -> ProviderId | None:
        return self._offerings.get(offering_id)

    async def cancelled_since(self, since: datetime, limit: int) -> Sequence[PayableBooking]:
        now = self._clock.now()
        found = [
            b.read(now)
            for b in self._bookings.values()
            if b.booking.cancelled_at is not None and b.booking.cancelled_at >= since
        ]
        found.sort(key=lambda b: (b.cancelled_at, b.id))
        return found[: max(limit, 0)]

    # --- test controls -------------------------------------------------------------------

    def outage(self) -> None:
        """The next confirm_paid raises before doing anything."""
        self._down = True

    def add_offering(self, provider_id: ProviderId) -> OfferingId:
        offering_id = OfferingId(uuid.uuid4())
        self._offerings[offering_id] = provider_id
        return offering_id

    def hold(
        self, customer: UserId, offering_id: OfferingId, price: Money, starts_at: datetime
    ) -> PayableBooking:
        """A fresh hold of the slot (offering, start) for `customer`."""
        now = self._clock.now()
        slot = f"{offering_id}@{starts_at}"
        if any(b.slot == slot and b.live(now) for b in self._bookings.values()):
            raise ValueError("that slot is taken")
        booking = PayableBooking(
            id=BookingId(uuid.uuid4()),
            offering_id=offering_id,
            provider_id=self._offerings[offering_id],
            customer_id=customer,
            price=price,
            starts_at=starts_at,
            held_at=now,
            state=BookingState.HELD,
            hold_expires_at=now + self._hold_ttl,
        )
        self._bookings[booking.id] = _Booking(booking=booking, status=BookingStatus.HELD, slot=slot)
        return booking

    def take_slot(self, booking_id: BookingId) -> BookingId:
        """Someone else books (and confirms) the slot of `booking_id`; its hold must have
        expired, as the bookings context would allow nothing else."""
        found = self._bookings[booking_id]
        if found.live(self._clock.now()):
            raise ValueError("the slot is still held by that booking")
        other = attrs.evolve(
            found.booking, id=BookingId(uuid.uuid4()), customer_id=UserId(uuid.uuid4())
        )
        self._bookings[other.id] = _Booking(
            booking=other, status=BookingStatus.CONFIRMED, slot=found.slot
        )
        return other.id

    def confirm(self, booking_id: BookingId) -> None:
        """Confirmed without money (a free booking)."""
        self._set(self._bookings[booking_id], BookingStatus.CONFIRMED)

    def complete(self, booking_id: BookingId) -> None:
        self._set(self._bookings[booking_id], BookingStatus.COMPLETED)

    def reschedule(self, booking_id: BookingId, starts_at: datetime) -> PayableBooking:
        """The booking moved to another start: a new booking carrying its status."""
        old = self._bookings[booking_id]
        new = attrs.evolve(
            old.booking,
            id=BookingId(uuid.uuid4()),
            starts_at=starts_at,
            rescheduled_from=old.booking.id,
        )
        self._bookings[new.id] = _Booking(
            booking=new, status=old.status, slot=f"{new.offering_id}@{starts_at}"
        )
        self._set(old, BookingStatus.RESCHEDULED)
        return self._bookings[new.id].read(self._clock.now())

    def booking(self, booking_id: BookingId) -> PayableBooking:
        return self._bookings[booking_id].read(self._clock.now())

    # --- inside --------------------------------------------------------------------------

    def _visible(self, caller: Principal, booking_id: BookingId) -> Result[_Booking, DomainError]:
        """Its customer, its provider's staff (with a second factor) and admins see it."""
        found = self._bookings.get(booking_id)
        if found is None:
            return Failure(NotFound(kind="booking", id=str(booking_id)))
        if caller.manages(found.booking.provider_id):
            return may_manage(caller, found.booking.provider_id).map(lambda _: found)
        if found.booking.customer_id == caller.user_id:
            return Success(found)
        return Failure(NotFound(kind="booking", id=str(booking_id)))

    def _taken(self, found: _Booking, now: datetime) -> bool:
        return any(
            other is not found and other.slot == found.slot and other.live(now)
            for other in self._bookings.values()
        )

    @staticmethod
    def _set(
        found: _Booking,
        status: BookingStatus,
        cancelled_at: datetime | None = None,
        cancelled_by: Canceller | None = None,
    ) -> None:
        found.status = status
        if cancelled_at is not None:
            found.booking = attrs.evolve(
                found.booking, cancelled_at=cancelled_at, cancelled_by=cancelled_by
            )
