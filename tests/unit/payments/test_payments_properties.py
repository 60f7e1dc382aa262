"""Properties the issue asks for, each stated in its test's name and checked by Hypothesis:
money in every currency exponent, shares of it, the policy's monotone refunds, balanced
ledger transactions, and refunds that never exceed what was captured or happen twice."""

from __future__ import annotations

from datetime import timedelta

import attrs
from hypothesis import given
from hypothesis import strategies as st
from payments_support import (
    EUR,
    NOW,
    PROFILE,
    World,
    a_payment,
    a_refund,
    assert_books_balance,
    customer_money,
    failure,
    ok,
    open_world,
    run,
)
from returns.result import Failure

from adapters.memory.payments import RefundMode, Webhook
from core.payments import (
    CancellationPolicy,
    Canceller,
    CancelWithRefund,
    DepositRule,
    GoodwillRefund,
    Payment,
    PaymentSettings,
    RefundExceedsRefundable,
    RefundStatus,
    RefundTier,
    RetryRefund,
    SettlePayments,
    is_chargeable,
    ledger,
    portion,
    step_of,
)
from core.payments.amounts import floor_to_step
from core.payments.checkout import _plan
from core.payments.settlement import STALE
from core.payments.steps import default_terms
from core.shared import money as money_module
from core.shared.errors import InvalidInput
from core.shared.idempotency import IdempotencyKeyReused
from core.shared.money import MAX_MINOR, Currency, Money

CODES = sorted(money_module._EXPONENTS)
currencies = st.sampled_from(CODES).map(lambda code: Currency.of(code).unwrap())
minors = st.integers(min_value=0, max_value=MAX_MINOR)
percents = st.integers(min_value=0, max_value=100)


@st.composite
def chargeable(draw: st.DrawFn, low: int = 1, high: int = 10**9) -> Money:
    """An amount the processor accepts: positive, whole steps (10s in KWD, BHD...)."""
    currency = draw(currencies)
    steps = draw(st.integers(min_value=low, max_value=high))
    return Money(steps * step_of(currency), currency)


@st.composite
def policies(draw: st.DrawFn) -> CancellationPolicy:
    """Any valid policy: distinct notices, percents never rising as notice shrinks."""
    notices = draw(st.lists(st.integers(0, 366 * 24), unique=True, max_size=10))
    shares = sorted(draw(st.lists(percents, min_size=len(notices), max_size=len(notices))))
    tiers = tuple(
        RefundTier(notice=timedelta(hours=h), percent=p)
        for h, p in zip(sorted(notices, reverse=True), reversed(shares), strict=True)
    )
    return ok(CancellationPolicy.of(tiers))


# --- money --------------------------------------------------------------------------------


@PROFILE
@given(currencies, minors)
def test_money_round_trips_through_its_decimal_text_in_every_exponent(
    currency: Currency, minor: int
) -> None:
    """Money -> '12.345' -> Money loses no minor unit, whatever the currency's exponent, and
    a text with more decimals than the currency has is refused, never rounded."""
    amount = Money(minor, currency)

    text = amount.as_decimal_str()

    assert ok(Money.parse(text, currency.code)) == amount
    one_decimal_too_many = f"{text}1" if "." in text else f"{text}.1"
    assert isinstance(failure(Money.parse(one_decimal_too_many, currency.code)), InvalidInput)


@PROFILE
@given(currencies, minors, percents, percents)
def test_a_share_is_whole_steps_never_above_the_amount_and_grows_with_the_percent(
    currency: Currency, minor: int, low: int, high: int
) -> None:
    """portion(): a multiple of the currency's step (10 for three-decimal currencies), never
    more than the amount, monotone in the percent; 0 % is nothing, 100 % of a chargeable
    amount is all of it."""
    amount = Money(minor, currency)
    low, high = sorted((low, high))

    small, large = portion(amount, low), portion(amount, high)

    assert small.minor % step_of(currency) == large.minor % step_of(currency) == 0
    if currency.exponent == 3:  # KWD, BHD, JOD, OMR, TND: Stripe moves multiples of 10
        assert small.minor % 10 == large.minor % 10 == 0
        assert is_chargeable(amount) == (minor > 0 and minor % 10 == 0)
    assert small.minor <= large.minor <= floor_to_step(amount).minor
    assert portion(amount, 0).minor == 0
    assert portion(floor_to_step(amount), 100) == floor_to_step(amount)


@PROFILE
@given(chargeable(), st.integers(1, 99))
def test_a_deposit_and_its_balance_are_both_chargeable_and_add_up_to_the_price(
    price: Money, percent: int
) -> None:
    rule = ok(DepositRule.of_percent(percent, balance_due_before=timedelta(days=2)))
    terms = default_terms(PaymentSettings())

    plan = ok(_plan(price, attrs.evolve(terms, deposit=rule)))

    assert is_chargeable(plan.amount)
    if plan.balance is None:
        assert plan.amount == price  # too small to split: all of it now
    else:
        assert is_chargeable(plan.balance)
        assert plan.amount + plan.balance == price


# --- the policy ---------------------------------------------------------------------------


@PROFILE
@given(
    policies(),
    chargeable(),
    st.integers(0, 400 * 24 * 60),
    st.integers(0, 400 * 24 * 60),
)
def test_cancelling_later_never_refunds_more_under_any_valid_policy(
    policy: CancellationPolicy, paid: Money, earlier_min: int, later_min: int
) -> None:
    """For any valid policy and paid amount: a later cancellation refunds no more than an
    earlier one, never more than was paid, and a provider's cancellation refunds it all."""
    starts_at = NOW + timedelta(days=400)
    earlier, later = sorted((earlier_min, later_min))

    first = policy.refund_for(paid, starts_at, NOW + timedelta(minutes=earlier), Canceller.CUSTOMER)
    second = policy.refund_for(paid, starts_at, NOW + timedelta(minutes=later), Canceller.CUSTOMER)

    assert second.minor <= first.minor <= paid.minor
    assert first.minor % step_of(paid.currency) == 0
    assert (
        policy.refund_for(paid, starts_at, NOW + timedelta(minutes=later), Canceller.PROVIDER)
        == paid
    )


@PROFILE
@given(st.lists(st.tuples(st.integers(0, 400), percents), max_size=6))
def test_a_policy_is_accepted_only_if_a_shorter_notice_never_refunds_more(
    raw: list[tuple[int, int]],
) -> None:
    tiers = tuple(RefundTier(notice=timedelta(hours=h), percent=p) for h, p in raw)
    ordered = sorted(raw, key=lambda t: t[0], reverse=True)
    monotone = [p for _, p in ordered] == sorted((p for _, p in ordered), reverse=True)
    distinct = len({h for h, _ in raw}) == len(raw)

    assert isinstance(CancellationPolicy.of(tiers), Failure) != (monotone and distinct)


# --- the ledger ---------------------------------------------------------------------------


@PROFILE
@given(chargeable(), percents, percents, st.lists(st.tuples(percents, st.booleans()), max_size=5))
def test_every_ledger_transaction_and_the_whole_ledger_sum_to_zero(
    captured: Money, commission_pct: int, fee_pct: int, refunds: list[tuple[int, bool]]
) -> None:
    """Capture, fee, refunds (policy or platform-funded) and payout of any amounts: each
    transaction sums to zero (the type refuses others), so all balances together do, per
    currency; a policy refund gives back at most the commission."""
    payment = a_payment(captured, portion(captured, commission_pct))
    transactions = [
        ledger.capture(payment, NOW),
        ledger.processor_fee(payment, portion(captured, fee_pct), NOW),
        ledger.payout(payment.provider_id, portion(captured, fee_pct), "po_1", NOW),
    ]
    for pct, goodwill in refunds:
        back = a_refund(payment, portion(captured, pct), goodwill)
        transactions.append(ledger.refund(payment, back, NOW))
        assert ledger.commission_returned(payment, back.amount) <= payment.commission.minor

    for txn in transactions:
        assert sum(e.minor for e in txn.entries) == 0
    totals: dict[str, int] = {}
    for balance in ledger.balances(transactions):
        totals[balance.currency.code] = totals.get(balance.currency.code, 0) + balance.minor
    assert set(totals.values()) <= {0}


# --- refunds over the use cases -----------------------------------------------------------

Step = tuple[str, int, int]
MODES = {"fail": RefundMode.FAIL, "pend": RefundMode.PENDING, "succeed": RefundMode.SUCCEED}
steps = st.lists(
    st.one_of(
        st.tuples(st.just("goodwill"), st.integers(1, 60), st.integers(0, 3)),
        st.tuples(st.just("cancel"), st.just(0), st.just(0)),
        st.tuples(st.sampled_from(sorted(MODES)), st.just(0), st.just(0)),
        st.tuples(st.just("retry"), st.integers(0, 5), st.just(0)),
        st.tuples(st.just("replay"), st.integers(0, 30), st.just(0)),
        st.tuples(st.just("sweep"), st.just(0), st.just(0)),
        st.tuples(st.just("settle"), st.integers(0, 5), st.booleans().map(int)),
    ),
    max_size=14,
)


@attrs.define
class RefundStory:
    """One paid booking, and whatever refunds, failures and redeliveries a story holds."""

    world: World
    paid: Payment
    delivered: list[Webhook] = attrs.field(factory=list)

    async def goodwill(self, number: int, key: int) -> None:
        amount = Money(number * 250, EUR)
        goodwill = self.world.app(GoodwillRefund)
        result = await goodwill(self.world.app.admin, self.paid.id, amount, f"k{key}", "n")
        if isinstance(result, Failure):
            assert isinstance(result.failure(), RefundExceedsRefundable | IdempotencyKeyReused)

    async def cancel(self, _: int, __: int) -> None:
        await self.world.app(CancelWithRefund)(self.world.customer, self.paid.booking_id)

    async def retry(self, number: int, _: int) -> None:
        failed = [r for r in self.world.store.refunds if r.status is RefundStatus.FAILED]
        if failed:
            await self.world.app(RetryRefund)(self.world.app.admin, failed[number % len(failed)].id)

    async def replay(self, number: int, _: int) -> None:
        hooks = self.world.app.gateway.webhooks()
        self.delivered += hooks
        if self.delivered:
            await self.world.app.deliver([*hooks, self.delivered[number % len(self.delivered)]])

    async def sweep(self, _: int, __: int) -> None:
        self.world.app.clock.advance(STALE * 2)
        await self.world.app(SettlePayments)()

    async def settle(self, number: int, succeeded: int) -> None:
        gateway = self.world.app.gateway
        pending = [v for v in gateway.refunds() if v.status is RefundStatus.PENDING]
        if pending:
            gateway.settle_refund(pending[number % len(pending)].refund_id, bool(succeeded))

    async def take(self, kind: str, number: int, other: int) -> None:
        if kind in MODES:
            self.world.app.gateway.refund_mode = MODES[kind]
        else:
            await getattr(self, kind)(number, other)


async def _refund_story(story: list[Step]) -> None:
    world = await open_world(settings=PaymentSettings(goodwill_cap_percent=100))
    teller = RefundStory(world=world, paid=await world.pay(world.hold()))
    for step in story:
        await teller.take(*step)
        assert_books_balance(world.app)  # refunds holding money == reserved <= captured
    await _quiesce(world)
    assert_books_balance(world.app)
    assert customer_money(world.app) == world.app.gateway.net_received(EUR)


async def _quiesce(world: World) -> None:
    """Every pending refund ends, every event arrives, the sweeper runs."""
    gateway = world.app.gateway
    for view in gateway.refunds():
        if view.status is RefundStatus.PENDING:
            gateway.settle_refund(view.refund_id)
    await world.app.deliver()
    world.app.clock.advance(STALE * 2)
    await world.app(SettlePayments)()
    await world.app.deliver()


@PROFILE
@given(steps)
def test_refunds_never_exceed_what_was_captured_for_any_sequence_of_requests_replays_and_failures(
    story: list[Step],
) -> None:
    """Goodwill and cancellation refunds, processor failures and pending refunds, retries,
    replayed webhooks and sweeps in any order: the refunds holding money always add up to
    the payment's reservation, which never exceeds what it captured, and once all is
    settled the ledger's customer money equals the processor's."""
    run(_refund_story(story))


async def _same_requests(requests: list[tuple[int, int]]) -> None:
    world = await open_world(settings=PaymentSettings(goodwill_cap_percent=100))
    paid = await world.pay(world.hold())
    first_amount: dict[int, int] = {}
    for key, steps_of_100 in requests:
        amount = Money(steps_of_100 * 100, EUR)
        result = await world.app(GoodwillRefund)(
            world.app.admin, paid.id, amount, f"key-{key}", "n"
        )
        if isinstance(result, Failure):
            continue
        first_amount.setdefault(key, result.unwrap().amount.minor)
    refunds = world.app.gateway.refunds()

    assert len(refunds) == len(first_amount) == len(world.store.refunds)
    assert 10_000 - world.app.gateway.net_received(EUR) == sum(first_amount.values())


@PROFILE
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 30)), max_size=12))
def test_the_same_refund_request_never_refunds_twice(requests: list[tuple[int, int]]) -> None:
    """Requests repeated with the same key (any amount) make one refund per key at the
    processor: the first one's; the repeats answer it or are refused as a reused key."""
    run(_same_requests(requests))
