"""Shared helpers of the payments unit tests: a small world (a provider onboarded at the
processor, an offering, a customer), holding and paying, and the books' invariants."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs

from adapters.memory.payments import GOOD, Card, InMemoryPayments, payments_in_memory
from core.payments import (
    AccountKind,
    PayableBooking,
    PayForBooking,
    Payment,
    PaymentId,
    PaymentPart,
    PaymentSettings,
    PaymentStarted,
    PaymentStatus,
    Refund,
    RefundId,
    RefundReason,
    RefundStatus,
)
from core.payments.steps import default_terms
from core.shared.ids import BookingId, OfferingId, ProviderId, UserId
from core.shared.money import Currency, Money
from core.shared.principal import Principal
from result_support import failure as failure
from result_support import hypothesis_profile
from result_support import ok as ok

# `RESERVA_HYPOTHESIS=thorough` runs many more examples; the default keeps the suite fast.
PROFILE = hypothesis_profile("payments", fast=40)

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
T = TypeVar("T")


def currency(code: str) -> Currency:
    return Currency.of(code).unwrap()


EUR, JPY, KWD = currency("EUR"), currency("JPY"), currency("KWD")


def eur(minor: int) -> Money:
    return Money(minor, EUR)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """For Hypothesis tests: each example on a loop of its own."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


@attrs.frozen(kw_only=True)
class World:
    app: InMemoryPayments
    provider: ProviderId
    offering: OfferingId
    customer: Principal
    manager: Principal  # the provider's staff, with a second factor

    @property
    def store(self) -> Any:
        return self.app.store

    def hold(
        self,
        price: Money | None = None,
        starts_in: timedelta = 5 * DAY,
        customer: Principal | None = None,
    ) -> PayableBooking:
        who = customer or self.customer
        starts_at = self.app.clock.now() + starts_in
        return self.app.desk.hold(who.user_id, self.offering, price or eur(10_000), starts_at)

    async def start(
        self, booking: PayableBooking, customer: Principal | None = None, ip: str | None = None
    ) -> PaymentStarted:
        return ok(await self.app(PayForBooking)(customer or self.customer, booking.id, ip))

    async def pay(
        self, booking: PayableBooking, card: Card = GOOD, customer: Principal | None = None
    ) -> Payment:
        """Start, pay with `card` in the browser, deliver the webhooks: the payment now."""
        started = await self.start(booking, customer)
        assert started.payment.intent_id is not None
        self.app.gateway.pay(started.payment.intent_id, card)
        await self.app.deliver()
        return self.payment(started.payment.id)

    def payment(self, payment_id: PaymentId) -> Payment:
        return self.app.store.payment(payment_id)

    def event_names(self) -> list[str]:
        return [e.name for e in self.app.store.outbox]


async def open_world(
    now: datetime = NOW, settings: PaymentSettings | None = None, *, interleave: bool = False
) -> World:
    app = payments_in_memory(now, settings, interleave=interleave)
    provider = await app.open_provider()
    return World(
        app=app,
        provider=provider,
        offering=app.desk.add_offering(provider),
        customer=app.customer(),
        manager=app.staff(provider),
    )


# --- the books' invariants ----------------------------------------------------------------


def assert_books_balance(app: InMemoryPayments) -> None:
    """Every transaction sums to zero (the type refuses others), so the whole ledger does,
    per currency; and no payment's refunds hold more than it captured."""
    totals: dict[str, int] = {}
    for txn in app.store.ledger:
        assert sum(e.minor for e in txn.entries) == 0, txn
        for entry in txn.entries:
            totals[entry.currency.code] = totals.get(entry.currency.code, 0) + entry.minor
    assert all(total == 0 for total in totals.values()), totals
    for payment in app.store.payments:
        holding = sum(
            r.amount.minor
            for r in app.store.refunds
            if r.payment_id == payment.id and r.status is not RefundStatus.FAILED
        )
        assert holding == payment.refunded.minor <= payment.captured.minor, payment


def customer_money(app: InMemoryPayments, code: str = "EUR") -> int:
    """What customers paid net of refunds, by the ledger (its customer account, negated)."""
    return -sum(
        e.minor
        for txn in app.store.ledger
        for e in txn.entries
        if e.account.kind is AccountKind.CUSTOMER and e.currency.code == code
    )


# --- values built by hand (store and ledger tests) ------------------------------------------


def a_payment(captured: Money | None = None, commission: Money | None = None) -> Payment:
    """A succeeded payment, not stored anywhere."""
    amount = captured or eur(10_000)
    return Payment(
        id=PaymentId(uuid.uuid4()),
        booking_id=BookingId(uuid.uuid4()),
        customer_id=UserId(uuid.uuid4()),
        provider_id=ProviderId(uuid.uuid4()),
        part=PaymentPart.FULL,
        amount=amount,
        commission=commission or Money(amount.minor // 10, amount.currency),
        terms=default_terms(PaymentSettings()),
        status=PaymentStatus.SUCCEEDED,
        idempotency_key=f"pay-{uuid.uuid4()}",
        processor_account="acct_x",
        captured=amount,
        refunded=Money(0, amount.currency),
        created_at=NOW,
        updated_at=NOW,
    )


def a_refund(
    payment: Payment, amount: Money | None = None, goodwill: bool = True, key: str = "k"
) -> Refund:
    return Refund(
        id=RefundId(uuid.uuid4()),
        payment_id=payment.id,
        amount=amount or Money(100, payment.amount.currency),
        reason=RefundReason.GOODWILL if goodwill else RefundReason.CANCELLATION,
        request_key=key,
        created_at=NOW,
        updated_at=NOW,
    )
