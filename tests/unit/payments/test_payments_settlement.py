"""Settling: a slot lost while paying, deposits and balances, and the sweeper that finishes
whatever a crash or a missed event left half done."""

from __future__ import annotations

from datetime import timedelta

import pytest
from payments_support import (
    DAY,
    HOUR,
    World,
    assert_books_balance,
    customer_money,
    eur,
    failure,
    ok,
    open_world,
)

from adapters.memory.payments import (
    ASKS_3DS_ALWAYS,
    DECLINES_LATER,
    GOOD,
    Card,
    ProcessorCrash,
    RefundMode,
)
from core.payments import (
    BookingOutcome,
    BookingState,
    CancelWithRefund,
    DepositRule,
    GoodwillRefund,
    NotPayable,
    PayForBooking,
    Payment,
    PaymentPart,
    PaymentStatus,
    RefundReason,
    RefundStatus,
    SetOfferingTerms,
    SettlePayments,
)
from core.payments.settlement import STALE, SWEEP_BATCH


@pytest.fixture
async def world() -> World:
    return await open_world()


async def test_paying_after_the_slot_was_taken_refunds_in_full(world: World) -> None:
    booking = world.hold()
    started = await world.start(booking)
    assert started.payment.intent_id is not None
    world.app.clock.advance(HOUR)  # the hold expires while the customer pays ...
    world.app.desk.take_slot(booking.id)  # ... and someone else books the slot

    world.app.gateway.pay(started.payment.intent_id)
    await world.app.deliver()

    payment = world.payment(started.payment.id)
    (refund,) = world.store.refunds
    assert payment.booking_outcome is BookingOutcome.SLOT_LOST
    assert (refund.reason, refund.amount, refund.status) == (
        RefundReason.SLOT_LOST,
        eur(10_000),
        RefundStatus.SUCCEEDED,
    )
    assert world.app.desk.booking(booking.id).state is BookingState.EXPIRED
    (told,) = world.store.events("payments.slot_lost_refunded")
    assert told.payload["refund_id"] == str(refund.id)
    assert customer_money(world.app) == world.app.gateway.net_received(eur(0).currency) == 0
    assert_books_balance(world.app)


async def test_paying_after_the_hold_expired_confirms_while_the_slot_is_free(
    world: World,
) -> None:
    booking = world.hold()
    started = await world.start(booking)
    assert started.payment.intent_id is not None
    world.app.clock.advance(HOUR)

    world.app.gateway.pay(started.payment.intent_id)
    await world.app.deliver()

    assert world.payment(started.payment.id).booking_outcome is BookingOutcome.CONFIRMED
    assert world.app.desk.booking(booking.id).state is BookingState.CONFIRMED
    assert world.store.refunds == []


# --- deposits and balances ---------------------------------------------------------------


async def deposit_booking(world: World, card: Card = GOOD) -> tuple[Payment, Payment]:
    """A 30 % deposit paid with `card`, the balance due 2 days before a start in 10 days."""
    rule = ok(DepositRule.of_percent(30, balance_due_before=2 * DAY))
    policy = world.app.ports.settings.default_policy
    ok(await world.app(SetOfferingTerms)(world.manager, world.offering, policy, rule))
    booking = world.hold(starts_in=10 * DAY)
    started = await world.start(booking)
    assert started.payment.intent_id is not None
    world.app.gateway.pay(started.payment.intent_id, card)
    if card.asks_3ds:
        world.app.gateway.authenticate(started.payment.intent_id)
    await world.app.deliver()
    balance = next(p for p in world.store.payments if p.part is PaymentPart.BALANCE)
    return world.payment(started.payment.id), balance


async def test_the_balance_is_charged_off_session_when_due(world: World) -> None:
    _, balance = await deposit_booking(world)
    assert (await world.app(SettlePayments)()).balances_charged == 0  # not due yet

    world.app.clock.advance(8 * DAY)
    report = await world.app(SettlePayments)()
    await world.app.deliver()

    charged = world.payment(balance.id)
    assert report.balances_charged == 1
    assert (charged.status, charged.booking_outcome) == (
        PaymentStatus.SUCCEEDED,
        BookingOutcome.NOT_NEEDED,
    )
    assert customer_money(world.app) == world.app.gateway.net_received(eur(0).currency) == 10_000
    assert (await world.app(SettlePayments)()).balances_charged == 0  # charged once
    assert world.app.gateway.calls.count("charge_off_session") == 1
    assert_books_balance(world.app)


async def test_a_balance_the_bank_wants_authenticated_is_paid_by_the_customer(
    world: World,
) -> None:
    deposit, balance = await deposit_booking(world, ASKS_3DS_ALWAYS)
    world.app.clock.advance(8 * DAY)

    report = await world.app(SettlePayments)()

    failed = world.payment(balance.id)
    assert report.balances_need_customer == 1
    assert failed.status is PaymentStatus.FAILED
    assert failed.failure == "the bank asks the customer to authenticate this payment"
    (told,) = world.store.events("payments.balance_needs_customer")
    assert told.payload["payment_id"] == str(balance.id)

    started = ok(await world.app(PayForBooking)(world.customer, deposit.booking_id, None))
    assert started.payment.id == balance.id
    assert started.payment.idempotency_key == f"{balance.idempotency_key}-by-customer"
    assert started.payment.intent_id is not None
    world.app.gateway.pay(started.payment.intent_id, ASKS_3DS_ALWAYS)
    world.app.gateway.authenticate(started.payment.intent_id)
    await world.app.deliver()

    assert world.payment(balance.id).booking_outcome is BookingOutcome.NOT_NEEDED
    assert (await world.app(SettlePayments)()).balances_charged == 0
    assert customer_money(world.app) == 10_000


async def test_a_declined_balance_is_paid_by_the_customer_with_another_card(
    world: World,
) -> None:
    deposit, balance = await deposit_booking(world, DECLINES_LATER)
    world.app.clock.advance(8 * DAY)

    await world.app(SettlePayments)()
    started = ok(await world.app(PayForBooking)(world.customer, deposit.booking_id, None))
    assert started.payment.intent_id is not None
    world.app.gateway.pay(started.payment.intent_id, GOOD)
    await world.app.deliver()

    assert world.payment(balance.id).failure is None
    assert world.payment(balance.id).status is PaymentStatus.SUCCEEDED


async def test_a_cancelled_booking_drops_its_balance_and_refunds_its_deposit(
    world: World,
) -> None:
    deposit, balance = await deposit_booking(world)

    (refund,) = ok(await world.app(CancelWithRefund)(world.customer, deposit.booking_id)).refunds
    world.app.clock.advance(8 * DAY)
    await world.app(SettlePayments)()

    assert refund.amount == eur(3_000)  # the deposit, by the policy (100 % at 10 days)
    assert world.payment(balance.id).status is PaymentStatus.CANCELLED
    assert "charge_off_session" not in world.app.gateway.calls


async def test_a_balance_not_due_yet_is_not_paid_by_hand(world: World) -> None:
    deposit, _ = await deposit_booking(world)

    error = failure(await world.app(PayForBooking)(world.customer, deposit.booking_id, None))

    assert isinstance(error, NotPayable)


# --- the sweeper -------------------------------------------------------------------------


async def test_the_sweeper_settles_a_payment_whose_booking_was_not_reached(
    world: World,
) -> None:
    booking = world.hold()
    started = await world.start(booking)
    assert started.payment.intent_id is not None
    await world.app.deliver()  # payment_intent.created
    world.app.gateway.pay(started.payment.intent_id)
    world.app.desk.outage()  # confirm_paid fails once: the handler raises after recording

    await world.app.deliver()
    assert world.payment(started.payment.id).status is PaymentStatus.SUCCEEDED
    assert world.payment(started.payment.id).booking_outcome is None

    report = await world.app(SettlePayments)()

    assert report.payments_settled == 1
    assert world.payment(started.payment.id).booking_outcome is BookingOutcome.CONFIRMED
    assert len([t for t in world.store.ledger if t.key.startswith("capture")]) == 1


async def test_a_fee_the_processor_reports_late_is_booked_by_the_sweeper() -> None:
    world = await open_world()
    world.app.gateway.fees_later = True
    paid = await world.pay(world.hold())
    assert paid.fee is None
    assert [t.key.split(":")[0] for t in world.store.ledger] == ["capture"]

    world.app.gateway.settle_fees()
    await world.app(SettlePayments)()
    await world.app(SettlePayments)()

    assert world.payment(paid.id).fee == eur(300)
    assert [t.key.split(":")[0] for t in world.store.ledger] == ["capture", "fee"]
    assert_books_balance(world.app)


async def test_a_refund_whose_answer_was_lost_is_sent_again_with_the_same_key(
    world: World,
) -> None:
    paid = await world.pay(world.hold())
    world.app.gateway.crash_after("refund")
    goodwill = world.app(GoodwillRefund)

    with pytest.raises(ProcessorCrash):
        await goodwill(world.app.admin, paid.id, eur(2_000), "sorry", "late start")
    (stuck,) = world.store.refunds
    assert stuck.status is RefundStatus.REQUESTED
    assert (await world.app(SettlePayments)()).refunds_sent == 0  # not stale yet

    world.app.clock.advance(STALE + HOUR)
    report = await world.app(SettlePayments)()

    (refund,) = world.store.refunds
    assert report.refunds_sent == 1
    assert refund.status is RefundStatus.SUCCEEDED
    assert len(world.app.gateway.refunds()) == 1  # the processor refunded once
    assert world.payment(paid.id).refunded == eur(2_000)
    assert customer_money(world.app) == world.app.gateway.net_received(eur(0).currency)


async def test_a_cancellation_whose_refund_answer_was_lost_refunds_once(world: World) -> None:
    booking = world.hold()
    paid = await world.pay(booking)
    world.app.gateway.crash_after("refund")

    with pytest.raises(ProcessorCrash):
        await world.app(CancelWithRefund)(world.customer, booking.id)
    assert world.app.desk.booking(booking.id).state is BookingState.CANCELLED
    world.app.clock.advance(STALE + HOUR)
    await world.app(SettlePayments)()
    await world.app(SettlePayments)()

    (refund,) = world.store.refunds
    assert refund.status is RefundStatus.SUCCEEDED
    assert len(world.app.gateway.refunds()) == 1
    assert world.payment(paid.id).refunded == eur(10_000)
    assert customer_money(world.app) == world.app.gateway.net_received(eur(0).currency) == 0


async def test_a_cancellation_made_outside_payments_is_refunded_by_the_sweeper(
    world: World,
) -> None:
    booking = world.hold()
    await world.pay(booking)
    ok(await world.app.desk.cancel(world.customer, booking.id))  # the bookings API alone

    report = await world.app(SettlePayments)()
    again = await world.app(SettlePayments)()

    (refund,) = world.store.refunds
    assert (report.cancellations_refunded, again.cancellations_refunded) == (1, 0)
    assert (refund.reason, refund.amount) == (RefundReason.CANCELLATION, eur(10_000))
    assert refund.status is RefundStatus.SUCCEEDED


async def test_the_sweeper_reaches_every_cancellation_beyond_one_batch(world: World) -> None:
    """More cancellations than one batch in the lookback window: the newest are refunded too."""
    bookings = [world.hold(starts_in=timedelta(days=5, hours=n)) for n in range(SWEEP_BATCH + 5)]
    for booking in bookings:
        await world.pay(booking)
    for booking in bookings:
        world.app.clock.advance(timedelta(seconds=1))
        ok(await world.app.desk.cancel(world.customer, booking.id))  # the bookings API alone

    report = await world.app(SettlePayments)()

    assert report.cancellations_refunded == len(bookings)
    assert {r.payment_id for r in world.store.refunds} == {p.id for p in world.store.payments}


async def test_pending_refunds_are_asked_about_again(world: World) -> None:
    booking = world.hold()
    await world.pay(booking)
    world.app.gateway.refund_mode = RefundMode.PENDING
    (pending,) = ok(await world.app(CancelWithRefund)(world.customer, booking.id)).refunds
    assert pending.processor_refund_id is not None
    world.app.gateway.settle_refund(pending.processor_refund_id, succeeded=False)
    world.app.gateway.webhooks()  # the event is lost
    world.app.clock.advance(STALE + HOUR)

    report = await world.app(SettlePayments)()

    (refund,) = world.store.refunds
    assert report.refunds_checked == 1
    assert refund.status is RefundStatus.FAILED
    assert world.payment(refund.payment_id).refunded == eur(0)


async def test_one_failing_item_does_not_stop_the_sweep(world: World) -> None:
    stuck_payment = await world.pay(world.hold())
    world.app.gateway.crash_after("refund")
    with pytest.raises(ProcessorCrash):
        await world.app(GoodwillRefund)(world.app.admin, stuck_payment.id, eur(1_000), "k", "n")
    booking = world.hold(starts_in=6 * DAY)
    await world.pay(booking)
    ok(await world.app.desk.cancel(world.customer, booking.id))
    world.app.clock.advance(STALE + HOUR)
    world.app.gateway.outage("refund")  # the stuck refund's second try fails too

    report = await world.app(SettlePayments)()

    assert report.cancellations_refunded == 1  # the sweep went on after the failure
    (error,) = report.errors
    assert error.startswith("refund ")
    assert "ProcessorCrash" in error
    again = await world.app(SettlePayments)()
    assert again.errors == ()
    assert all(r.status is RefundStatus.SUCCEEDED for r in world.store.refunds)
