"""Refunds: by the policy snapshot on cancellation, goodwill on top, and failures that admins
retry or settle by hand."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from payments_support import (
    DAY,
    EUR,
    HOUR,
    KWD,
    World,
    assert_books_balance,
    customer_money,
    eur,
    failure,
    ok,
    open_world,
)
from returns.result import Failure

from adapters.memory.payments import RefundMode
from core.bookings.model import InvalidTransition
from core.payments import (
    CancellationPolicy,
    CancelWithRefund,
    GoodwillCapExceeded,
    GoodwillRefund,
    ListRefunds,
    Payment,
    PaymentSettings,
    Refund,
    RefundExceedsRefundable,
    RefundNotFailed,
    RefundReason,
    RefundStatus,
    RefundTier,
    ResolveRefund,
    RetryRefund,
    SetOfferingTerms,
)
from core.payments.ledger import AccountKind
from core.shared.errors import Forbidden, InvalidInput, NotFound
from core.shared.idempotency import IdempotencyKeyReused
from core.shared.money import Money
from core.shared.principal import MfaRequired, Principal, Role


@pytest.fixture
async def world() -> World:
    return await open_world()


# --- cancellations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts_in", "refunded"),
    [(5 * DAY, 10_000), (2 * DAY, 10_000), (30 * HOUR, 5_000), (10 * HOUR, 0)],
)
async def test_a_customers_cancellation_refunds_by_the_tiers(
    world: World, starts_in: timedelta, refunded: int
) -> None:
    """The default policy: at least 48 h before the start 100 %, 24 h 50 %, later nothing."""
    booking = world.hold(starts_in=starts_in)
    paid = await world.pay(booking)

    cancelled = ok(await world.app(CancelWithRefund)(world.customer, booking.id))

    assert sum(r.amount.minor for r in cancelled.refunds) == refunded
    assert all(r.status is RefundStatus.SUCCEEDED for r in cancelled.refunds)
    assert world.payment(paid.id).refunded == eur(refunded)
    assert customer_money(world.app) == 10_000 - refunded
    assert_books_balance(world.app)


async def test_the_refund_follows_the_terms_the_customer_saw_not_later_ones(
    world: World,
) -> None:
    generous = ok(CancellationPolicy.of((RefundTier(notice=HOUR, percent=100),)))
    stingy = ok(CancellationPolicy.of(()))  # never a refund
    set_terms = world.app(SetOfferingTerms)
    ok(await set_terms(world.manager, world.offering, generous, None))
    booking = world.hold(starts_in=3 * HOUR)
    paid = await world.pay(booking)
    world.app.clock.advance(timedelta(minutes=5))
    ok(await set_terms(world.manager, world.offering, stingy, None))

    (refund,) = ok(await world.app(CancelWithRefund)(world.customer, booking.id)).refunds

    assert paid.terms.policy == generous
    assert refund.amount == eur(10_000)


@pytest.mark.parametrize("who", ["staff", "admin"])
async def test_a_provider_side_cancellation_refunds_in_full_even_late(
    world: World, who: str
) -> None:
    booking = world.hold(starts_in=2 * HOUR)
    await world.pay(booking)
    canceller = world.manager if who == "staff" else world.app.admin

    (refund,) = ok(await world.app(CancelWithRefund)(canceller, booking.id)).refunds

    assert refund.amount == eur(10_000)
    assert refund.reason is RefundReason.CANCELLATION


async def test_cancelling_a_free_booking_refunds_nothing(world: World) -> None:
    booking = world.hold(price=eur(0))
    world.app.desk.confirm(booking.id)

    cancelled = ok(await world.app(CancelWithRefund)(world.customer, booking.id))

    assert cancelled.refunds == ()
    assert "refund" not in world.app.gateway.calls


async def test_cancelling_an_unpaid_hold_refunds_nothing(world: World) -> None:
    booking = world.hold()
    await world.start(booking)

    cancelled = ok(await world.app(CancelWithRefund)(world.customer, booking.id))

    assert cancelled.refunds == ()


async def test_the_bookings_refusals_pass_through(world: World) -> None:
    booking = world.hold()
    await world.pay(booking)
    cancel = world.app(CancelWithRefund)

    assert isinstance(failure(await cancel(world.app.customer(), booking.id)), NotFound)
    ok(await cancel(world.customer, booking.id))
    assert isinstance(failure(await cancel(world.customer, booking.id)), InvalidTransition)
    assert len(world.store.refunds) == 1


async def test_a_rescheduled_booking_refunds_the_payment_of_the_original(world: World) -> None:
    booking = world.hold()
    paid = await world.pay(booking)
    moved = world.app.desk.reschedule(booking.id, booking.starts_at + DAY)

    (refund,) = ok(await world.app(CancelWithRefund)(world.customer, moved.id)).refunds

    assert (refund.payment_id, refund.amount) == (paid.id, eur(10_000))


# --- goodwill ------------------------------------------------------------------------------


async def test_goodwill_is_paid_by_the_platform_and_capped(world: World) -> None:
    paid = await world.pay(world.hold())
    goodwill = world.app(GoodwillRefund)

    first = ok(await goodwill(world.app.admin, paid.id, eur(3_000), "late", "started late"))
    over = failure(await goodwill(world.app.admin, paid.id, eur(2_500), "more", "again"))
    second = ok(await goodwill(world.app.admin, paid.id, eur(2_000), "more", "again"))

    assert first.status is RefundStatus.SUCCEEDED
    assert isinstance(over, GoodwillCapExceeded)
    assert (
        over.detail
        == "goodwill refunds of this payment are capped at 50.00 EUR; 30.00 EUR was given already"
    )
    assert second.status is RefundStatus.SUCCEEDED
    assert world.payment(paid.id).refunded == eur(5_000)
    refund_entries = {
        e.account.kind: e.minor
        for t in world.store.ledger
        if t.refund_id == first.id
        for e in t.entries
    }
    # The provider keeps its share: only the platform's revenue pays for goodwill.
    assert refund_entries == {AccountKind.CUSTOMER: 3_000, AccountKind.PLATFORM_REVENUE: -3_000}
    assert_books_balance(world.app)


async def test_the_same_goodwill_request_refunds_once(world: World) -> None:
    paid = await world.pay(world.hold())
    goodwill = world.app(GoodwillRefund)

    one = ok(await goodwill(world.app.admin, paid.id, eur(1_000), "req-1", "noise"))
    two = ok(await goodwill(world.app.admin, paid.id, eur(1_000), "req-1", "noise"))
    reused = failure(await goodwill(world.app.admin, paid.id, eur(1_500), "req-1", "noise"))

    assert one.id == two.id
    assert isinstance(reused, IdempotencyKeyReused)
    assert len(world.app.gateway.refunds()) == 1
    assert world.payment(paid.id).refunded == eur(1_000)


async def test_goodwill_needs_an_admin_with_a_second_factor(world: World) -> None:
    paid = await world.pay(world.hold())
    goodwill = world.app(GoodwillRefund)
    unverified = Principal(user_id=world.app.admin.user_id, roles=frozenset({Role.ADMIN}))

    for who in (world.customer, world.manager):
        assert isinstance(failure(await goodwill(who, paid.id, eur(100), "k", "n")), Forbidden)
    assert isinstance(failure(await goodwill(unverified, paid.id, eur(100), "k", "n")), MfaRequired)
    assert world.store.refunds == []


async def test_goodwill_refuses_odd_amounts_and_more_than_is_left() -> None:
    world = await open_world(settings=PaymentSettings(goodwill_cap_percent=100))
    booking = world.hold(starts_in=30 * HOUR)
    paid = await world.pay(booking)
    ok(await world.app(CancelWithRefund)(world.customer, booking.id))  # 50 % back
    goodwill = world.app(GoodwillRefund)
    admin = world.app.admin

    too_much = failure(await goodwill(admin, paid.id, eur(6_000), "k1", "n"))
    assert isinstance(too_much, RefundExceedsRefundable)
    assert too_much.refundable == eur(5_000)
    dinars = Money(10, KWD)
    assert isinstance(failure(await goodwill(admin, paid.id, dinars, "k2", "n")), InvalidInput)
    assert isinstance(failure(await goodwill(admin, paid.id, eur(0), "k3", "n")), InvalidInput)
    assert isinstance(failure(await goodwill(admin, paid.id, eur(100), "", "n")), InvalidInput)
    ok(await goodwill(admin, paid.id, eur(5_000), "k4", "the rest"))
    assert world.payment(paid.id).refunded == world.payment(paid.id).captured


async def test_concurrent_refunds_never_exceed_what_was_captured() -> None:
    world = await open_world(settings=PaymentSettings(goodwill_cap_percent=100), interleave=True)
    paid = await world.pay(world.hold())
    goodwill = world.app(GoodwillRefund)

    results = await asyncio.gather(
        *(goodwill(world.app.admin, paid.id, eur(4_000), f"k{n}", "n") for n in range(3))
    )

    refused = [r.failure() for r in results if isinstance(r, Failure)]
    assert len(refused) == 1
    assert isinstance(refused[0], RefundExceedsRefundable)
    assert world.payment(paid.id).refunded == eur(8_000)
    assert world.app.gateway.net_received(EUR) == 2_000


# --- failures, retries, settling by hand ---------------------------------------------------


async def failed_refund(world: World) -> tuple[Payment, Refund]:
    booking = world.hold()
    paid = await world.pay(booking)
    world.app.gateway.refund_mode = RefundMode.FAIL
    (pending,) = ok(await world.app(CancelWithRefund)(world.customer, booking.id)).refunds
    world.app.gateway.refund_mode = RefundMode.SUCCEED
    assert pending.status is RefundStatus.PENDING  # the processor's first answer
    await world.app.deliver()  # refund.failed
    (refund,) = world.store.refunds
    return paid, refund


async def test_a_failed_refund_is_visible_and_gives_the_amount_back(world: World) -> None:
    paid, refund = await failed_refund(world)

    assert refund.status is RefundStatus.FAILED
    assert refund.failure
    assert world.payment(paid.id).refunded == eur(0)
    assert world.store.events("payments.refund_failed")
    assert "refund.failed" in [a.action for a in world.store.audit]
    (listed,) = ok(await world.app(ListRefunds)(world.app.admin, RefundStatus.FAILED, 10))
    assert listed.id == refund.id
    assert customer_money(world.app) == world.app.gateway.net_received(eur(0).currency) == 10_000


async def test_a_failed_refund_is_retried_as_a_new_attempt(world: World) -> None:
    paid, refund = await failed_refund(world)

    retried = ok(await world.app(RetryRefund)(world.app.admin, refund.id))

    assert (retried.status, retried.attempt) == (RefundStatus.SUCCEEDED, 2)
    assert retried.processor_key != refund.processor_key
    assert world.payment(paid.id).refunded == eur(10_000)
    assert len([t for t in world.store.ledger if t.key.startswith("refund:")]) == 1
    again = failure(await world.app(RetryRefund)(world.app.admin, refund.id))
    assert isinstance(again, RefundNotFailed)
    assert customer_money(world.app) == world.app.gateway.net_received(eur(0).currency) == 0
    assert_books_balance(world.app)


async def test_a_failed_refund_resolved_by_hand_is_booked_as_paid_by_the_platform(
    world: World,
) -> None:
    paid, refund = await failed_refund(world)

    resolved = ok(await world.app(ResolveRefund)(world.app.admin, refund.id, "bank transfer 42"))

    assert resolved.status is RefundStatus.SUCCEEDED
    assert resolved.resolved_by == world.app.admin.user_id
    (txn,) = [t for t in world.store.ledger if t.key.startswith("refund:")]
    assert txn.source is None  # nothing to reconcile at the processor
    assert {e.account.kind: e.minor for e in txn.entries} == {
        AccountKind.CUSTOMER: 10_000,
        AccountKind.PLATFORM_REVENUE: -10_000,
    }
    assert world.payment(paid.id).refunded == eur(10_000)
    assert "refund.resolved" in [a.action for a in world.store.audit]
    assert isinstance(
        failure(await world.app(ResolveRefund)(world.app.admin, refund.id, "twice")),
        RefundNotFailed,
    )
    assert_books_balance(world.app)


async def test_retrying_and_resolving_need_an_admin_with_a_second_factor(world: World) -> None:
    _, refund = await failed_refund(world)

    assert isinstance(failure(await world.app(RetryRefund)(world.manager, refund.id)), Forbidden)
    assert isinstance(
        failure(await world.app(ResolveRefund)(world.customer, refund.id, "no")),
        Forbidden,
    )
    assert isinstance(failure(await world.app(ListRefunds)(world.manager, None, 10)), Forbidden)


async def test_refunds_are_listed_longest_unchanged_first(world: World) -> None:
    paid = await world.pay(world.hold())
    goodwill = world.app(GoodwillRefund)
    for n in range(3):
        ok(await goodwill(world.app.admin, paid.id, eur(500), f"k{n}", "n"))
        world.app.clock.advance(timedelta(seconds=1))

    listed = ok(await world.app(ListRefunds)(world.app.admin, None, 2))

    assert [r.request_key for r in listed] == ["goodwill-k0", "goodwill-k1"]
