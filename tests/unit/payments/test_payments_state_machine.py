"""A state machine over the payment and refund lifecycle (memory fakes, fake clock).

Customers hold and pay with any test card, authenticate or not; the processor's webhooks
are delivered late, in any order, and again; holds expire and their slots are taken;
bookings are cancelled by the customer or the provider; admins give goodwill, refunds fail,
are retried, stay pending; the sweeper runs. Invariants hold after every step:

- the refunds holding money add up to each payment's reservation, never above what it
  captured, and every ledger transaction (so the ledger) sums to zero;
- a final status (succeeded, cancelled) never moves, nor does a succeeded refund;
- the processor charged each booking at most once, and only through our payments;
- a booking is confirmed only with a succeeded payment.

`settle_everything` delivers every event, ends every pending refund and sweeps, then checks
what holds once all is settled: the processor's money equals the ledger's customer account,
every succeeded payment's booking outcome is recorded, and a booking is confirmed exactly
when a payment confirmed it and nobody cancelled it since.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from payments_support import (
    DAY,
    EUR,
    HOUR,
    PROFILE,
    World,
    assert_books_balance,
    customer_money,
    open_world,
)
from returns.result import Failure

from adapters.memory.payments import (
    ASKS_3DS_ONCE,
    DECLINED,
    GOOD,
    RISKY,
    SLOW,
    Card,
    RefundMode,
    Webhook,
)
from core.payments import (
    BookingOutcome,
    BookingState,
    CancelWithRefund,
    GoodwillRefund,
    PayableBooking,
    PayForBooking,
    Payment,
    PaymentId,
    PaymentPart,
    PaymentSettings,
    PaymentStatus,
    ProcessProcessorEvents,
    ReceiveProcessorEvent,
    RefundId,
    RefundReason,
    RefundStatus,
    RetryRefund,
    SettlePayments,
)
from core.payments.model import IntentView
from core.payments.settlement import STALE
from core.shared.ids import BookingId
from core.shared.money import Money

T = TypeVar("T")
CARDS = [GOOD, GOOD, ASKS_3DS_ONCE, DECLINED, SLOW, RISKY]  # paying works more often
STARTS = [3 * HOUR, 30 * HOUR, 5 * DAY]
MODES = list(RefundMode)
FIRST_PARTS = (PaymentPart.FULL, PaymentPart.DEPOSIT)
index = st.integers(min_value=0, max_value=100)


class PaymentLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.world: World = self.run(open_world(settings=PaymentSettings(goodwill_cap_percent=100)))
        self.bookings: list[PayableBooking] = []
        self.sent: list[Webhook] = []  # sent by the processor, not delivered yet
        self.delivered: list[Webhook] = []
        self.finals: dict[PaymentId, PaymentStatus] = {}
        self.refunds_done: set[RefundId] = set()
        self.taken: set[BookingId] = set()  # expired holds whose slot someone else booked

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.loop.close()

    @property
    def payments(self) -> list[Payment]:
        return self.world.store.payments

    def pick(self, items: list[T], n: int) -> T:
        return items[n % len(items)]

    def intents(self, *statuses: PaymentStatus) -> list[IntentView]:
        """The processor's intents of our payments now, in these statuses."""
        views = [self.world.app.gateway.intent_of(p.idempotency_key) for p in self.payments]
        return [v for v in views if v is not None and v.status in statuses]

    # --- customers -----------------------------------------------------------------------

    @initialize(starts_in=st.sampled_from(STARTS))
    def a_customer_starts_paying_for_a_hold(self, starts_in: timedelta) -> None:
        self.hold(starts_in)
        pay = self.world.app(PayForBooking)
        self.run(pay(self.world.customer, self.bookings[0].id, "10.0.0.1")).unwrap()

    @precondition(lambda self: len(self.bookings) < 3)
    @rule(starts_in=st.sampled_from(STARTS))
    def hold(self, starts_in: timedelta) -> None:
        # The clock moves by whole minutes and starts differ by hours: these seconds keep
        # every booking on a slot of its own.
        unique = timedelta(seconds=17 * (len(self.bookings) + 1))
        self.bookings.append(self.world.hold(starts_in=starts_in + unique))

    @precondition(lambda self: self.intents(PaymentStatus.CREATED, PaymentStatus.FAILED))
    @rule(n=index, card=st.sampled_from(CARDS))
    def browser_pays(self, n: int, card: Card) -> None:
        intent = self.pick(self.intents(PaymentStatus.CREATED, PaymentStatus.FAILED), n)
        self.world.app.gateway.pay(intent.intent_id, card)

    @rule(n=index, card=st.sampled_from(CARDS))
    def customer_pays(self, n: int, card: Card) -> None:
        """PayForBooking, then the browser confirms its intent with `card` (if it may)."""
        booking = self.pick(self.bookings, n)
        pay = self.world.app(PayForBooking)
        started = self.run(pay(self.world.customer, booking.id, "10.0.0.1"))
        if isinstance(started, Failure):
            return
        payment = started.unwrap().payment
        view = self.world.app.gateway.intent_of(payment.idempotency_key)
        if view and view.status in (PaymentStatus.CREATED, PaymentStatus.FAILED):
            self.world.app.gateway.pay(view.intent_id, card)

    @precondition(lambda self: self.intents(PaymentStatus.REQUIRES_ACTION))
    @rule(n=index, passed=st.booleans())
    def customer_authenticates(self, n: int, passed: bool) -> None:
        intent = self.pick(self.intents(PaymentStatus.REQUIRES_ACTION), n)
        self.world.app.gateway.authenticate(intent.intent_id, passed)

    @precondition(lambda self: self.intents(PaymentStatus.PROCESSING))
    @rule(n=index, succeeded=st.booleans())
    def bank_answers(self, n: int, succeeded: bool) -> None:
        intent = self.pick(self.intents(PaymentStatus.PROCESSING), n)
        self.world.app.gateway.finish_processing(intent.intent_id, succeeded)

    @rule(n=index, by_provider=st.booleans(), refunds=st.sampled_from(MODES))
    def cancel(self, n: int, by_provider: bool, refunds: RefundMode) -> None:
        self.world.app.gateway.refund_mode = refunds
        booking = self.pick(self.bookings, n)
        who = self.world.manager if by_provider else self.world.customer
        self.run(self.world.app(CancelWithRefund)(who, booking.id))

    # --- the processor's webhooks --------------------------------------------------------

    @rule(seed=st.randoms(use_true_random=False))
    def the_events_arrive_shuffled_and_are_processed(self, seed: random.Random) -> None:
        self.sent += self.world.app.gateway.webhooks()
        seed.shuffle(self.sent)
        while self.sent:
            self.arrives(self.sent.pop())
        self.events_are_processed()

    @rule(n=index)
    def one_event_arrives_out_of_order(self, n: int) -> None:
        self.sent += self.world.app.gateway.webhooks()
        if self.sent:
            self.arrives(self.sent.pop(n % len(self.sent)))

    def arrives(self, hook: Webhook) -> None:
        self.receive(hook)
        self.delivered.append(hook)

    @precondition(lambda self: self.delivered)
    @rule(n=index)
    def one_arrives_again(self, n: int) -> None:
        self.receive(self.pick(self.delivered, n))

    def receive(self, hook: Webhook) -> None:
        received = self.run(self.world.app(ReceiveProcessorEvent)(hook.payload, hook.signature))
        assert not isinstance(received, Failure)

    @rule()
    def events_are_processed(self) -> None:
        self.run(self.world.app(ProcessProcessorEvents)())

    # --- refunds -------------------------------------------------------------------------

    @precondition(lambda self: any(p.status is PaymentStatus.SUCCEEDED for p in self.payments))
    @rule(
        n=index,
        hundreds=st.integers(1, 60),
        key=st.integers(0, 2),
        refunds=st.sampled_from(MODES),
    )
    def admin_gives_goodwill(self, n: int, hundreds: int, key: int, refunds: RefundMode) -> None:
        self.world.app.gateway.refund_mode = refunds
        paid = [p for p in self.payments if p.status is PaymentStatus.SUCCEEDED]
        payment = self.pick(paid, n)
        amount = Money(hundreds * 100, EUR)
        goodwill = self.world.app(GoodwillRefund)
        self.run(goodwill(self.world.app.admin, payment.id, amount, f"k{key}", "sorry"))

    @rule(mode=st.sampled_from(MODES))
    def refunds_start_to(self, mode: RefundMode) -> None:
        self.world.app.gateway.refund_mode = mode

    @precondition(lambda self: self.failed_refunds())
    @rule(n=index)
    def admin_retries(self, n: int) -> None:
        refund = self.pick(self.failed_refunds(), n)
        self.run(self.world.app(RetryRefund)(self.world.app.admin, refund))

    def failed_refunds(self) -> list[RefundId]:
        return [r.id for r in self.world.store.refunds if r.status is RefundStatus.FAILED]

    @precondition(lambda self: self.pending_at_processor())
    @rule(n=index, succeeded=st.booleans())
    def processor_ends_a_refund(self, n: int, succeeded: bool) -> None:
        self.world.app.gateway.settle_refund(self.pick(self.pending_at_processor(), n), succeeded)

    def pending_at_processor(self) -> list[str]:
        views = self.world.app.gateway.refunds()
        return [v.refund_id for v in views if v.status is RefundStatus.PENDING]

    # --- time and the sweeper ------------------------------------------------------------

    @rule(by=st.sampled_from([timedelta(minutes=1), timedelta(minutes=11), 2 * HOUR]))
    def time_passes(self, by: timedelta) -> None:
        self.world.app.clock.advance(by)

    @precondition(lambda self: self.expired_free_slots())
    @rule(n=index)
    def someone_takes_an_expired_slot(self, n: int) -> None:
        booking_id = self.pick(self.expired_free_slots(), n)
        self.world.app.desk.take_slot(booking_id)
        self.taken.add(booking_id)

    def expired_free_slots(self) -> list[BookingId]:
        desk = self.world.app.desk
        return [
            b.id
            for b in self.bookings
            if b.id not in self.taken and desk.booking(b.id).state is BookingState.EXPIRED
        ]

    @rule()
    def sweeper_runs(self) -> None:
        self.run(self.world.app(SettlePayments)())

    @rule()
    def settle_everything(self) -> None:
        for _ in range(3):
            for refund_id in self.pending_at_processor():
                self.world.app.gateway.settle_refund(refund_id)
            self.sent += self.world.app.gateway.webhooks()
            self.run(self.world.app.deliver(self.sent))
            self.delivered += self.sent
            self.sent = []
            self.world.app.clock.advance(STALE * 2)
            self.run(self.world.app(SettlePayments)())
        self.check_settled()

    def check_settled(self) -> None:
        app = self.world.app
        assert customer_money(app) == app.gateway.net_received(EUR)
        assert not [
            r
            for r in app.store.refunds
            if r.status in (RefundStatus.REQUESTED, RefundStatus.PENDING)
        ]
        for payment in self.payments:
            if payment.status is PaymentStatus.SUCCEEDED:
                assert payment.booking_outcome is not None, payment
            if payment.booking_outcome is BookingOutcome.SLOT_LOST:
                assert any(
                    r.reason is RefundReason.SLOT_LOST
                    for r in app.store.refunds
                    if r.payment_id == payment.id
                )
        for booking in self.bookings:
            state = app.desk.booking(booking.id).state
            confirmed_by_money = any(
                p.booking_outcome is BookingOutcome.CONFIRMED
                for p in self.payments
                if p.booking_id == booking.id
            )
            assert (state is BookingState.CONFIRMED) == (
                confirmed_by_money and state is not BookingState.CANCELLED
            )

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def refunds_stay_within_what_was_captured_and_the_ledger_balances(self) -> None:
        assert_books_balance(self.world.app)

    @invariant()
    def final_states_never_move(self) -> None:
        for payment in self.payments:
            seen = self.finals.get(payment.id)
            assert seen is None or payment.status is seen, (payment, seen)
            if payment.status.is_final:
                self.finals[payment.id] = payment.status
        for refund in self.world.store.refunds:
            if refund.id in self.refunds_done:
                assert refund.status is RefundStatus.SUCCEEDED
            if refund.status is RefundStatus.SUCCEEDED:
                self.refunds_done.add(refund.id)

    @invariant()
    def each_booking_is_charged_at_most_once_and_only_through_our_payments(self) -> None:
        gateway = self.world.app.gateway
        ours = {v.intent_id for v in self.intents(PaymentStatus.SUCCEEDED)}
        assert {c.intent_id for c in gateway.succeeded_charges()} == ours
        for booking in self.bookings:
            charged = [
                p
                for p in self.payments
                if p.booking_id == booking.id
                and p.part in FIRST_PARTS
                and (view := gateway.intent_of(p.idempotency_key)) is not None
                and view.status is PaymentStatus.SUCCEEDED
            ]
            assert len(charged) <= 1

    @invariant()
    def a_booking_is_confirmed_only_with_a_succeeded_payment(self) -> None:
        for booking in self.bookings:
            if self.world.app.desk.booking(booking.id).state is BookingState.CONFIRMED:
                assert any(
                    p.booking_id == booking.id and p.status is PaymentStatus.SUCCEEDED
                    for p in self.payments
                )


PaymentLifecycle.TestCase.settings = settings(
    PROFILE, max_examples=PROFILE.max_examples * 2, stateful_step_count=40, deadline=None
)
TestPaymentLifecycle = PaymentLifecycle.TestCase
