"""Small steps the payments use cases share: reading a booking's payments, the terms that
applied, saving a payment under its version, and writing the audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from core.payments.model import Payment, PaymentPart, PaymentStatus
from core.payments.ports import BookingDesk, PayableBooking, PaymentsUnitOfWork
from core.payments.service import PaymentSettings
from core.payments.terms import OfferingTerms
from core.shared.ids import BookingId, OfferingId, UserId

MAX_LINEAGE = 10  # reschedules followed back to the booking that was paid for
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def lineage(desk: BookingDesk, booking: PayableBooking) -> list[BookingId]:
    """The booking and the ones it was rescheduled from, newest first: payments stay on the
    booking that was paid for, so a reschedule must not hide them."""
    ids = [booking.id]
    previous = booking.rescheduled_from
    while previous is not None and previous not in ids and len(ids) <= MAX_LINEAGE:
        ids.append(previous)
        found = (await desk.read([previous])).get(previous)
        previous = None if found is None else found.rescheduled_from
    return ids


async def payments_of(uow: PaymentsUnitOfWork, booking_ids: Sequence[BookingId]) -> list[Payment]:
    return [p for booking_id in booking_ids for p in await uow.payments.for_booking(booking_id)]


def default_terms(settings: PaymentSettings) -> OfferingTerms:
    """What an offering without terms of its own asks: the platform's policy, no deposit."""
    return OfferingTerms(
        offering_id=None, version=0, policy=settings.default_policy, effective_from=EPOCH
    )


async def terms_at(
    uow: PaymentsUnitOfWork, settings: PaymentSettings, offering_id: OfferingId, at: datetime
) -> OfferingTerms:
    return await uow.terms.in_effect_at(offering_id, at) or default_terms(settings)


async def save_payment(uow: PaymentsUnitOfWork, payment: Payment) -> Payment | None:
    """The payment as stored now (its version moved on), or None when someone saved it
    first: the caller re-reads and decides again."""
    if not await uow.payments.save(payment):
        return None
    stored = await uow.payments.get(payment.id)
    assert stored is not None  # it was just written in this transaction
    return stored


async def cancel_unstarted_balances(
    uow: PaymentsUnitOfWork, booking_id: BookingId, at: datetime
) -> None:
    """A balance nobody charged yet has nothing left to charge once the booking is gone."""
    for payment in await uow.payments.for_booking(booking_id):
        if payment.part is PaymentPart.BALANCE and _unstarted(payment):
            await uow.payments.save(
                attrs.evolve(payment, status=PaymentStatus.CANCELLED, updated_at=at)
            )


def _unstarted(payment: Payment) -> bool:
    return payment.intent_id is None and payment.status in (
        PaymentStatus.CREATED,
        PaymentStatus.FAILED,
    )


async def audit(
    uow: PaymentsUnitOfWork,
    action: str,
    at: datetime,
    actor: UserId | None,
    payment: Payment,
    **details: Any,
) -> None:
    """An audit entry about `payment`: ids and amounts, never card data."""
    await uow.audit.append(
        action,
        at,
        actor,
        payment.customer_id,
        {
            "payment_id": str(payment.id),
            "booking_id": str(payment.booking_id),
            "part": payment.part.value,
            "amount_minor": payment.amount.minor,
            "currency": payment.amount.currency.code,
            **details,
        },
    )
