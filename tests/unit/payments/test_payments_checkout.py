"""Paying for a booking: the flows, who may pay or read, and what is refused."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from payments_support import (
    DAY,
    HOUR,
    JPY,
    KWD,
    NOW,
    World,
    assert_books_balance,
    eur,
    failure,
    ok,
    open_world,
)

from adapters.memory.payments import (
    ASKS_3DS_ONCE,
    DECLINED,
    GOOD,
    SLOW,
    Card,
    ProcessorCrash,
)
from core.payments import (
    BookingOutcome,
    BookingState,
    CancellationPolicy,
    DepositRule,
    GetBookingPayments,
    ListMyPayments,
    NothingToPay,
    NotPayable,
    PayForBooking,
    PaymentBlocked,
    PaymentPart,
    PaymentSettings,
    PaymentStatus,
    ProviderCannotTakePayments,
    RefundTier,
    ReviewState,
    SetOfferingTerms,
    StartProviderOnboarding,
    VelocityLimits,
)
from core.shared.errors import Forbidden, InvalidInput, NotFound
from core.shared.ids import ProviderId
from core.shared.money import Money
from core.shared.principal import MfaRequired


@pytest.fixture
async def world() -> World:
    return await open_world()


async def test_a_paid_hold_confirms_only_once_the_processor_says_so(world: World) -> None:
    booking = world.hold()
    started = await world.start(booking)

    assert started.payment.status is PaymentStatus.CREATED
    assert started.client_secret
    assert started.payment.intent_id is not None
    assert started.payment.commission == eur(1_000)  # 10 % by default
    world.app.gateway.pay(started.payment.intent_id, GOOD)
    # The browser's word is not enough: nothing moves before the processor's event.
    assert world.app.desk.booking(booking.id).state is BookingState.HELD
    await world.app.deliver()

    paid = world.payment(started.payment.id)
    assert (paid.status, paid.booking_outcome) == (
        PaymentStatus.SUCCEEDED,
        BookingOutcome.CONFIRMED,
    )
    assert paid.captured == eur(10_000)
    assert paid.fee == eur(300)
    assert world.app.desk.booking(booking.id).state is BookingState.CONFIRMED
    assert [t.key.split(":")[0] for t in world.store.ledger] == ["capture", "fee"]
    assert world.event_names() == ["payments.payment_succeeded"]
    assert [a.action for a in world.store.audit] == [
        "connect.onboarding_started",
        "payment.started",
        "payment.succeeded",
    ]
    assert_books_balance(world.app)


async def test_three_d_secure_waits_for_the_customer_then_confirms(world: World) -> None:
    booking = world.hold()
    started = await world.start(booking)
    assert started.payment.intent_id is not None

    world.app.gateway.pay(started.payment.intent_id, ASKS_3DS_ONCE)
    await world.app.deliver()
    assert world.payment(started.payment.id).status is PaymentStatus.REQUIRES_ACTION
    assert world.app.desk.booking(booking.id).state is BookingState.HELD

    world.app.gateway.authenticate(started.payment.intent_id)
    await world.app.deliver()
    assert world.payment(started.payment.id).status is PaymentStatus.SUCCEEDED
    assert world.app.desk.booking(booking.id).state is BookingState.CONFIRMED


async def test_a_declined_card_fails_and_another_card_pays_the_same_intent(world: World) -> None:
    booking = world.hold()
    first = await world.start(booking)
    assert first.payment.intent_id is not None

    world.app.gateway.pay(first.payment.intent_id, DECLINED)
    await world.app.deliver()
    failed = world.payment(first.payment.id)
    assert failed.status is PaymentStatus.FAILED
    assert failed.failure == "your card was declined"
    assert "payments.payment_failed" in world.event_names()
    assert "payment.failed" in [a.action for a in world.store.audit]

    again = await world.start(booking)  # the customer tries again: the same payment
    assert again.payment.id == first.payment.id
    assert again.payment.intent_id == first.payment.intent_id
    world.app.gateway.pay(first.payment.intent_id, GOOD)
    await world.app.deliver()
    assert world.payment(first.payment.id).status is PaymentStatus.SUCCEEDED
    assert world.app.gateway.calls.count("create_intent") == 1


async def test_failed_authentication_fails_the_payment(world: World) -> None:
    booking = world.hold()
    started = await world.start(booking)
    assert started.payment.intent_id is not None
    world.app.gateway.pay(started.payment.intent_id, ASKS_3DS_ONCE)
    world.app.gateway.authenticate(started.payment.intent_id, passed=False)
    await world.app.deliver()

    assert world.payment(started.payment.id).status is PaymentStatus.FAILED
    assert world.app.desk.booking(booking.id).state is BookingState.HELD


async def test_paying_again_returns_the_open_payment_never_a_second_one(world: World) -> None:
    booking = world.hold()
    first = await world.start(booking)
    second = await world.start(booking)

    assert second.payment.id == first.payment.id
    assert second.client_secret == first.client_secret
    assert len(world.store.payments) == 1
    assert world.app.gateway.calls.count("create_intent") == 1


async def test_two_requests_at_once_create_one_payment() -> None:
    world = await open_world(interleave=True)
    booking = world.hold()

    one, two = await asyncio.gather(world.start(booking), world.start(booking))

    assert one.payment.id == two.payment.id
    assert len(world.store.payments) == 1
    # The second may ask before the first saved the answer: with the same key, so the
    # processor made one intent.
    assert one.payment.intent_id == two.payment.intent_id
    assert one.client_secret == two.client_secret


async def test_a_crash_after_the_key_was_stored_charges_once_on_retry(world: World) -> None:
    """The processor made the intent but its answer was lost: the retry sends the stored
    key, gets the same intent, and the customer is charged once."""
    booking = world.hold()
    world.app.gateway.crash_after("create_intent")
    with pytest.raises(ProcessorCrash):
        await world.start(booking)
    (stored,) = world.store.payments
    assert (stored.status, stored.intent_id) == (PaymentStatus.CREATED, None)

    retried = await world.start(booking)
    assert retried.payment.id == stored.id
    made = world.app.gateway.intent_of(stored.idempotency_key)
    assert made is not None
    assert retried.payment.intent_id == made.intent_id
    world.app.gateway.pay(retried.payment.intent_id)
    await world.app.deliver()

    assert len(world.app.gateway.succeeded_charges()) == 1
    assert world.payment(stored.id).status is PaymentStatus.SUCCEEDED


async def test_a_crash_creating_the_processors_customer_creates_it_once(world: World) -> None:
    booking = world.hold()
    world.app.gateway.crash_after("create_customer")
    with pytest.raises(ProcessorCrash):
        await world.start(booking)

    await world.start(booking)

    assert world.app.gateway.calls.count("create_customer") == 2  # the same key twice
    assert world.app.gateway.calls.count("create_intent") == 1


async def test_the_payment_keeps_the_terms_in_effect_when_the_slot_was_held(world: World) -> None:
    strict = ok(CancellationPolicy.of((RefundTier(notice=DAY, percent=100),)))
    lenient = ok(CancellationPolicy.of((RefundTier(notice=timedelta(0), percent=100),)))
    set_terms = world.app(SetOfferingTerms)
    ok(await set_terms(world.manager, world.offering, strict, None))
    world.app.clock.advance(timedelta(minutes=1))
    booking = world.hold()
    world.app.clock.advance(timedelta(minutes=1))
    ok(await set_terms(world.manager, world.offering, lenient, None))

    started = await world.start(booking)

    assert started.terms.version == 1
    assert started.payment.terms.policy == strict


async def test_a_deposit_pays_part_now_and_writes_the_balance_for_later(world: World) -> None:
    deposit = ok(DepositRule.of_percent(30, balance_due_before=2 * DAY))
    policy = world.app.ports.settings.default_policy
    ok(await world.app(SetOfferingTerms)(world.manager, world.offering, policy, deposit))
    booking = world.hold(starts_in=10 * DAY)

    paid = await world.pay(booking)

    balance = next(p for p in world.store.payments if p.part is PaymentPart.BALANCE)
    assert (paid.part, paid.amount) == (PaymentPart.DEPOSIT, eur(3_000))
    assert paid.payment_method_id is not None  # the card is saved for the balance
    assert (balance.amount, balance.status) == (eur(7_000), PaymentStatus.CREATED)
    assert balance.due_at == booking.starts_at - 2 * DAY
    assert balance.idempotency_key != paid.idempotency_key
    assert world.app.desk.booking(booking.id).state is BookingState.CONFIRMED
    refused = failure(await world.app(PayForBooking)(world.customer, booking.id, None))
    assert isinstance(refused, NotPayable)
    assert "charged to the saved card" in refused.detail


async def test_a_slow_payment_keeps_the_hold_until_the_money_arrives(world: World) -> None:
    booking = world.hold()
    started = await world.start(booking)
    assert started.payment.intent_id is not None
    world.app.gateway.pay(started.payment.intent_id, SLOW)
    await world.app.deliver()
    assert world.payment(started.payment.id).status is PaymentStatus.PROCESSING
    again = await world.start(booking)  # the open payment, as it is
    assert (again.payment.id, again.payment.status) == (
        started.payment.id,
        PaymentStatus.PROCESSING,
    )
    assert world.app.desk.booking(booking.id).state is BookingState.HELD

    world.app.gateway.finish_processing(started.payment.intent_id)
    await world.app.deliver()
    assert world.app.desk.booking(booking.id).state is BookingState.CONFIRMED


# --- what cannot be paid -------------------------------------------------------------------


async def test_a_paid_booking_has_nothing_to_pay(world: World) -> None:
    booking = world.hold()
    await world.pay(booking)

    assert isinstance(
        failure(await world.app(PayForBooking)(world.customer, booking.id, None)), NothingToPay
    )


async def test_a_free_booking_has_nothing_to_pay(world: World) -> None:
    booking = world.hold(price=eur(0))

    error = failure(await world.app(PayForBooking)(world.customer, booking.id, None))

    assert isinstance(error, NothingToPay)
    assert world.store.payments == []


async def test_an_expired_or_cancelled_hold_is_not_payable(world: World) -> None:
    expired = world.hold()
    world.app.clock.advance(HOUR)
    cancelled = world.hold(starts_in=6 * DAY)
    await world.app.desk.cancel(world.customer, cancelled.id)

    for booking in (expired, cancelled):
        error = failure(await world.app(PayForBooking)(world.customer, booking.id, None))
        assert isinstance(error, NotPayable), error


async def test_amounts_follow_each_currencys_rules(world: World) -> None:
    yen = await world.start(world.hold(price=Money(5_000, JPY)))
    dinar = await world.start(world.hold(price=Money(12_340, KWD), starts_in=6 * DAY))
    odd = world.hold(price=Money(12_345, KWD), starts_in=7 * DAY)

    assert yen.payment.commission == Money(500, JPY)
    assert dinar.payment.commission == Money(1_230, KWD)  # 1.234 KWD rounds to whole 10s
    error = failure(await world.app(PayForBooking)(world.customer, odd.id, None))
    assert isinstance(error, NotPayable)


async def test_a_provider_not_done_onboarding_cannot_take_payments(world: World) -> None:
    never, halfway = ProviderId(uuid.uuid4()), ProviderId(uuid.uuid4())
    start = world.app(StartProviderOnboarding)
    ok(await start(world.app.staff(halfway), halfway, "https://a.test/ok", "https://a.test/again"))

    for provider in (never, halfway):
        offering = world.app.desk.add_offering(provider)
        booking = world.app.desk.hold(world.customer.user_id, offering, eur(5_000), NOW + 3 * DAY)
        error = failure(await world.app(PayForBooking)(world.customer, booking.id, None))
        assert isinstance(error, ProviderCannotTakePayments)
    assert world.store.payments == []
    assert "create_intent" not in world.app.gateway.calls


async def test_only_the_bookings_customer_pays(world: World) -> None:
    booking = world.hold()
    pay = world.app(PayForBooking)

    assert isinstance(failure(await pay(world.manager, booking.id, None)), Forbidden)
    assert isinstance(failure(await pay(world.app.customer(), booking.id, None)), NotFound)
    unverified = world.app.staff(world.provider, mfa=False)
    assert isinstance(failure(await pay(unverified, booking.id, None)), MfaRequired)


# --- fraud rules -----------------------------------------------------------------------------


async def test_too_many_failed_payments_from_an_address_block_the_next_one() -> None:
    limits = VelocityLimits(failed_per_ip=2, failed_per_account=5)
    world = await open_world(settings=PaymentSettings(velocity=limits))
    for n in range(2):
        someone = world.app.customer()
        started = await world.start(
            world.hold(customer=someone, starts_in=(3 + n) * DAY), someone, "10.0.0.9"
        )
        assert started.payment.intent_id is not None
        world.app.gateway.pay(started.payment.intent_id, DECLINED)
    await world.app.deliver()

    booking = world.hold(starts_in=9 * DAY)
    blocked = failure(await world.app(PayForBooking)(world.customer, booking.id, "10.0.0.9"))
    allowed = await world.start(booking, ip="10.0.0.10")

    assert isinstance(blocked, PaymentBlocked)
    assert "2 failed payments from this address" in blocked.detail
    assert allowed.payment.review is None


async def test_a_card_that_failed_often_sends_its_success_to_review() -> None:
    """The card rule can only judge after a success: the fingerprint comes from the charge."""
    world = await open_world(settings=PaymentSettings(velocity=VelocityLimits(failed_per_card=2)))
    for n in range(2):
        someone = world.app.customer()
        started = await world.start(world.hold(customer=someone, starts_in=(3 + n) * DAY), someone)
        assert started.payment.intent_id is not None
        world.app.gateway.pay(started.payment.intent_id, DECLINED)
    await world.app.deliver()
    same_card_that_now_pays = Card(fingerprint=DECLINED.fingerprint)

    paid = await world.pay(world.hold(starts_in=9 * DAY), same_card_that_now_pays)

    assert paid.status is PaymentStatus.SUCCEEDED
    assert paid.review is ReviewState.PENDING
    assert paid.review_reason == "2 failed payments with this card within the hour"


async def test_many_payments_within_the_hour_go_to_review_but_proceed() -> None:
    world = await open_world(
        settings=PaymentSettings(velocity=VelocityLimits(payments_per_account=2))
    )
    for n in range(2):
        await world.pay(world.hold(starts_in=(3 + n) * DAY))

    third = await world.pay(world.hold(starts_in=8 * DAY))

    assert third.review is ReviewState.PENDING
    assert third.review_reason == "2 payments by this account within the hour"
    assert third.status is PaymentStatus.SUCCEEDED
    assert "payments.review_opened" in world.event_names()


# --- reading ---------------------------------------------------------------------------------


async def test_a_bookings_payments_are_read_by_its_customer_its_staff_and_admins(
    world: World,
) -> None:
    booking = world.hold()
    paid = await world.pay(booking)
    read = world.app(GetBookingPayments)

    for who in (world.customer, world.manager, world.app.admin):
        (record,) = ok(await read(who, booking.id))
        assert record.payment.id == paid.id
        assert record.refunds == ()
    assert isinstance(failure(await read(world.app.customer(), booking.id)), NotFound)
    unverified = world.app.staff(world.provider, mfa=False)
    assert isinstance(failure(await read(unverified, booking.id)), MfaRequired)


async def test_payments_follow_a_rescheduled_booking(world: World) -> None:
    booking = world.hold()
    paid = await world.pay(booking)
    moved = world.app.desk.reschedule(booking.id, booking.starts_at + DAY)

    (record,) = ok(await world.app(GetBookingPayments)(world.customer, moved.id))

    assert record.payment.id == paid.id
    assert isinstance(
        failure(await world.app(PayForBooking)(world.customer, moved.id, None)), NothingToPay
    )


async def test_my_payments_newest_first_page_by_page(world: World) -> None:
    ids = []
    for n in range(3):
        ids.append((await world.start(world.hold(starts_in=(3 + n) * DAY))).payment.id)
        world.app.clock.advance(timedelta(seconds=1))
    mine = world.app(ListMyPayments)

    first = ok(await mine(world.customer, 2, None))
    rest = ok(await mine(world.customer, 2, first[-1].payment.id))

    assert [r.payment.id for r in [*first, *rest]] == ids[::-1]
    assert ok(await mine(world.app.customer(), 10, None)) == []
    assert isinstance(failure(await mine(world.customer, 0, None)), InvalidInput)
