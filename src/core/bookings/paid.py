"""Bookings and their money: what the payments context asks of this one, through the public
API (contexts never import each other). No person calls these use cases, so they check no
caller and reach every booking (`MAINTENANCE`); no HTTP route exposes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from returns.result import Failure, Result, Success

from core.bookings.model import Booking, BookingStatus, InvalidTransition, SlotUnavailable
from core.bookings.ports import BookingsUnitOfWork
from core.bookings.service import BookingsUseCase
from core.shared.errors import DomainError, NotFound
from core.shared.ids import BookingId
from core.shared.unit_of_work import MAINTENANCE

SLOT_TAKEN = SlotUnavailable(reason="the slot was taken after the hold expired")


class ConfirmPaidBooking(BookingsUseCase):
    """Confirms a booking once the payment processor says its money arrived.

    Idempotent: a booking confirmed already (a notice delivered twice, or staff were quicker)
    is answered as it is, with no new event. A hold confirms whether it is still live or
    expired before the money came (swept or not): the repository's `reinstate` takes its slot
    again atomically, and fails only if someone else took the slot meanwhile (SlotUnavailable;
    refunding is the payments context's business). Cancelled, rescheduled, completed and
    no-show bookings answer InvalidTransition. The `bookings.booking_confirmed` event says
    `"paid": true`.
    """

    async def __call__(self, booking_id: BookingId) -> Result[Booking, DomainError]:
        now = self.clock.now()
        async with self.uow(MAINTENANCE) as uow:
            booking = await uow.bookings.get(booking_id)
            if booking is None:
                return Failure(NotFound(kind="booking", id=str(booking_id)))
            if booking.status is BookingStatus.CONFIRMED:
                return Success(booking)
            paid = booking.confirm_paid(now)
            if isinstance(paid, Failure):
                return paid
            confirmed, event = paid.unwrap()
            if isinstance(await uow.bookings.reinstate(booking, now), Failure):
                return await _unless_confirmed_meanwhile(uow, booking_id)
            await uow.outbox.add(event)
            await uow.commit()
        return Success(confirmed)


async def _unless_confirmed_meanwhile(
    uow: BookingsUnitOfWork, booking_id: BookingId
) -> Result[Booking, DomainError]:
    """`reinstate` refused: the slot is taken, or a rival moved the booking between our read
    and our write. A rival that confirmed it (the same notice, delivered twice) did our job."""
    again = await uow.bookings.get(booking_id)
    if again is None:
        return Failure(NotFound(kind="booking", id=str(booking_id)))
    if again.status is BookingStatus.CONFIRMED:
        return Success(again)
    if again.status in (BookingStatus.HELD, BookingStatus.EXPIRED):
        return Failure(SLOT_TAKEN)
    return Failure(InvalidTransition(again.status, "confirm"))


class ReadBookings(BookingsUseCase):
    """The bookings with these ids as they read now (`Booking.as_of`), for the payments
    sweeper that reconciles paid bookings; ids of no booking are left out. One read."""

    async def __call__(self, ids: Sequence[BookingId]) -> Mapping[BookingId, Booking]:
        now = self.clock.now()
        async with self.uow(MAINTENANCE) as uow:
            found = await uow.bookings.get_many(ids)
        return {booking.id: booking.as_of(now) for booking in found}


MAX_CANCELLED = 1000


class ListCancelledBookings(BookingsUseCase):
    """Bookings cancelled at or after `since`, oldest cancellation first (as of now), for the
    payments sweeper that checks each paid one was refunded by its policy."""

    async def __call__(self, since: datetime, limit: int) -> Sequence[Booking]:
        async with self.uow(MAINTENANCE) as uow:
            return await uow.bookings.cancelled_since(since, max(0, min(limit, MAX_CANCELLED)))
