"""`BookingDesk` (core.payments.ports) implemented by calling the bookings context's use cases.

Payments never reaches into the bookings store: it asks the bookings context the way any other
caller does, so its checks (who may see or cancel a booking, when a hold may still confirm) stay
in one place. Each call is its own transaction in the bookings context. A booking is translated
into the few facts payments needs (`PayableBooking`): its state as of now, the price, when it
was held (the terms in effect then are the ones its customer accepted) and who cancelled it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs
from returns.result import Result

from core.bookings import (
    Booking,
    BookingStatus,
    CancelBooking,
    CancelledBy,
    ConfirmPaidBooking,
    GetBooking,
    GetOffering,
    ListCancelledBookings,
    ReadBookings,
)
from core.payments.ports import BookingDesk, BookingState, PayableBooking
from core.payments.terms import Canceller
from core.shared.errors import DomainError
from core.shared.ids import BookingId, OfferingId, ProviderId
from core.shared.principal import Principal

_STATES = {
    BookingStatus.HELD: BookingState.HELD,
    BookingStatus.CONFIRMED: BookingState.CONFIRMED,
    BookingStatus.EXPIRED: BookingState.EXPIRED,
    BookingStatus.CANCELLED: BookingState.CANCELLED,
}
_CANCELLERS = {CancelledBy.CUSTOMER: Canceller.CUSTOMER, CancelledBy.PROVIDER: Canceller.PROVIDER}


def payable_of(booking: Booking) -> PayableBooking:
    """The booking as payments sees it. Completed, no-show and rescheduled bookings are OTHER:
    money no longer follows them (a rescheduled booking's payments follow its successor)."""
    return PayableBooking(
        id=booking.id,
        offering_id=booking.offering_id,
        provider_id=booking.provider_id,
        customer_id=booking.customer_id,
        price=booking.price,
        starts_at=booking.during.start,
        held_at=booking.created_at,
        state=_STATES.get(booking.status, BookingState.OTHER),
        hold_expires_at=booking.hold_expires_at,
        cancelled_at=booking.cancelled_at,
        cancelled_by=None if booking.cancelled_by is None else _CANCELLERS[booking.cancelled_by],
        rescheduled_from=booking.rescheduled_from,
    )


@attrs.frozen(kw_only=True)
class BookingsDesk(BookingDesk):
    """Built by the composition root from the bookings use cases it already holds."""

    get_booking: GetBooking
    cancel_booking: CancelBooking
    confirm_paid_booking: ConfirmPaidBooking
    read_bookings: ReadBookings
    get_offering: GetOffering
    list_cancelled_bookings: ListCancelledBookings

    async def payable(
        self, caller: Principal, booking_id: BookingId
    ) -> Result[PayableBooking, DomainError]:
        return (await self.get_booking(caller, booking_id)).map(
            lambda seen: payable_of(seen.booking)
        )

    async def read(self, ids: Sequence[BookingId]) -> Mapping[BookingId, PayableBooking]:
        if not ids:
            return {}
        found = await self.read_bookings(ids)
        return {booking_id: payable_of(booking) for booking_id, booking in found.items()}

    async def confirm_paid(self, booking_id: BookingId) -> Result[PayableBooking, DomainError]:
        return (await self.confirm_paid_booking(booking_id)).map(payable_of)

    async def cancel(
        self, caller: Principal, booking_id: BookingId
    ) -> Result[PayableBooking, DomainError]:
        return (await self.cancel_booking(caller, booking_id)).map(payable_of)

    async def offering_provider(self, offering_id: OfferingId) -> ProviderId | None:
        found = await self.get_offering(offering_id)
        return found.map(lambda offering: offering.provider_id).value_or(None)

    async def cancelled_since(self, since: datetime, limit: int) -> Sequence[PayableBooking]:
        return [payable_of(b) for b in await self.list_cancelled_bookings(since, limit)]
