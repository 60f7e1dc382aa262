"""The PaymentGateway contract: what the payments core relies on from any processor.

Each test runs on every backend (see the `processor` fixture): StripePaymentGateway over the
real SDK against the local Stripe fake, and the in-memory gateway the unit tests use.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from returns.result import Failure, Success
from stripe_gateway_support import RETURN_URL, Processor

from core.payments.model import CardNotCharged, IntentView, PaymentStatus, RefundStatus
from core.payments.ports import IntentRequest, OffSessionRequest, RefundRequest
from core.shared.ids import ProviderId, UserId
from core.shared.money import Money

PRICE = Money.of(5000, "EUR").unwrap()
COMMISSION = Money.of(500, "EUR").unwrap()


def key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


def eur(minor: int) -> Money:
    return Money.of(minor, "EUR").unwrap()


async def provider_account(processor: Processor) -> str:
    """A connected account that finished onboarding."""
    gateway = processor.gateway
    account = await gateway.create_account(ProviderId(uuid.uuid4()), None, "DE", key("acct"))
    await processor.visit(
        await gateway.onboarding_link(account.account_ref, RETURN_URL, RETURN_URL)
    )
    return account.account_ref


async def intent_request(processor: Processor, *, save_card: bool = False) -> IntentRequest:
    gateway = processor.gateway
    return IntentRequest(
        idempotency_key=key("pay"),
        amount=PRICE,
        commission=COMMISSION,
        destination=await provider_account(processor),
        customer_ref=await gateway.create_customer(UserId(uuid.uuid4()), key("customer")),
        save_card=save_card,
        metadata={"payment_id": str(uuid.uuid4()), "booking_id": str(uuid.uuid4())},
    )


async def new_intent(processor: Processor) -> IntentView:
    return await processor.gateway.create_intent(await intent_request(processor))


async def paid_intent(processor: Processor, card: str = "pm_card_visa") -> IntentView:
    intent = await new_intent(processor)
    await processor.pay(intent, card)
    return await processor.gateway.intent(intent.intent_id)


def refund_of(
    intent: IntentView, amount: Money, *, idempotency_key: str | None = None
) -> RefundRequest:
    return RefundRequest(
        idempotency_key=idempotency_key or key("refund"),
        intent_id=intent.intent_id,
        amount=amount,
        reverse_transfer=True,
        metadata={"refund_id": str(uuid.uuid4())},
    )


# --- paying -------------------------------------------------------------------------------


async def test_a_new_intent_waits_for_the_customer_with_a_client_secret(
    processor: Processor,
) -> None:
    intent = await new_intent(processor)

    assert intent.status is PaymentStatus.CREATED
    assert intent.client_secret
    assert (intent.amount_received, intent.charge_id, intent.failure) == (0, None, None)


async def test_a_paid_destination_charge_reads_back_with_its_charge_fee_card_and_risk(
    processor: Processor,
) -> None:
    view = await paid_intent(processor)

    assert view.status is PaymentStatus.SUCCEEDED
    assert view.amount_received == PRICE.minor
    assert view.charge_id
    assert view.fee_minor is not None
    assert 0 < view.fee_minor < PRICE.minor
    assert view.card_fingerprint
    assert view.payment_method_id
    assert view.risk is not None
    assert (view.risk.level, view.risk.outcome) == ("normal", "authorized")
    assert view.failure is None


async def test_the_same_card_has_the_same_fingerprint(processor: Processor) -> None:
    first = await paid_intent(processor)
    second = await paid_intent(processor)

    assert first.card_fingerprint == second.card_fingerprint
    assert first.payment_method_id != second.payment_method_id


async def test_radar_elevated_risk_is_reported(processor: Processor) -> None:
    view = await paid_intent(processor, "pm_card_riskLevelElevated")

    assert view.status is PaymentStatus.SUCCEEDED
    assert view.risk is not None
    assert view.risk.level == "elevated"


async def test_3d_secure_requires_action_then_succeeds_once_authenticated(
    processor: Processor,
) -> None:
    intent = await new_intent(processor)
    await processor.pay(intent, "pm_card_threeDSecure2Required")

    waiting = await processor.gateway.intent(intent.intent_id)
    await processor.authenticate(intent.intent_id, succeed=True)
    done = await processor.gateway.intent(intent.intent_id)

    assert (waiting.status, waiting.charge_id) == (PaymentStatus.REQUIRES_ACTION, None)
    assert done.status is PaymentStatus.SUCCEEDED
    assert done.amount_received == PRICE.minor


async def test_failed_3d_secure_fails_with_a_reason_and_another_card_may_pay(
    processor: Processor,
) -> None:
    intent = await new_intent(processor)
    await processor.pay(intent, "pm_card_threeDSecure2Required")
    await processor.authenticate(intent.intent_id, succeed=False)

    failed = await processor.gateway.intent(intent.intent_id)
    await processor.pay(intent, "pm_card_visa")
    retried = await processor.gateway.intent(intent.intent_id)

    assert failed.status is PaymentStatus.FAILED
    assert failed.failure
    assert (retried.status, retried.failure) == (PaymentStatus.SUCCEEDED, None)


async def test_a_declined_card_fails_with_the_decline_in_words(processor: Processor) -> None:
    view = await paid_intent(processor, "pm_card_chargeDeclined")

    assert view.status is PaymentStatus.FAILED
    assert view.failure is not None
    assert "declined" in view.failure
    assert (view.amount_received, view.charge_id) == (0, None)  # no charge to book
    assert view.card_fingerprint  # velocity rules count failures per card


async def test_the_same_key_creates_one_intent_one_customer_one_account(
    processor: Processor,
) -> None:
    gateway = processor.gateway
    user, provider = UserId(uuid.uuid4()), ProviderId(uuid.uuid4())
    customer_key, account_key = key("customer"), key("acct")

    customers = {await gateway.create_customer(user, customer_key) for _ in range(2)}
    accounts = {
        (await gateway.create_account(provider, None, "DE", account_key)).account_ref
        for _ in range(2)
    }
    request = await intent_request(processor)
    first = await gateway.create_intent(request)
    again = await gateway.create_intent(request)

    assert len(customers) == len(accounts) == 1
    assert again.intent_id == first.intent_id


async def test_after_a_lost_answer_the_same_key_finds_the_same_intent(
    processor: Processor,
) -> None:
    request = await intent_request(processor)
    processor.lose_next_answer("create_intent")
    with contextlib.suppress(processor.lost):  # the Stripe SDK retries by itself
        await processor.gateway.create_intent(request)

    first = await processor.gateway.create_intent(request)
    again = await processor.gateway.create_intent(request)

    assert first.intent_id == again.intent_id
    assert first.status is PaymentStatus.CREATED


async def test_cancelling_is_final_and_may_be_repeated(processor: Processor) -> None:
    intent = await new_intent(processor)

    cancelled = await processor.gateway.cancel_intent(intent.intent_id)
    again = await processor.gateway.cancel_intent(intent.intent_id)

    assert cancelled.status is again.status is PaymentStatus.CANCELLED


async def test_cancelling_a_succeeded_intent_answers_the_success(processor: Processor) -> None:
    view = await paid_intent(processor)

    assert (await processor.gateway.cancel_intent(view.intent_id)).status is (
        PaymentStatus.SUCCEEDED
    )


# --- refunds ------------------------------------------------------------------------------


async def test_a_partial_then_the_full_rest_refund_and_no_more(processor: Processor) -> None:
    gateway = processor.gateway
    view = await paid_intent(processor)

    partial = await gateway.refund(refund_of(view, eur(1500)))
    rest = await gateway.refund(refund_of(view, eur(3500)))
    with pytest.raises(processor.refused):
        await gateway.refund(refund_of(view, eur(1)))

    assert partial.status is rest.status is RefundStatus.SUCCEEDED
    assert partial.refund_id != rest.refund_id
    listed = await gateway.refunds_of(view.intent_id)
    assert {r.refund_id for r in listed} == {partial.refund_id, rest.refund_id}
    assert await gateway.refund_view(rest.refund_id) == rest


async def test_a_refund_over_what_is_left_is_refused(processor: Processor) -> None:
    view = await paid_intent(processor)

    with pytest.raises(processor.refused):
        await processor.gateway.refund(refund_of(view, eur(PRICE.minor + 1)))

    assert await processor.gateway.refunds_of(view.intent_id) == []


async def test_the_same_refund_key_refunds_once(processor: Processor) -> None:
    view = await paid_intent(processor)
    request = refund_of(view, eur(1000))

    first = await processor.gateway.refund(request)
    again = await processor.gateway.refund(request)

    assert again.refund_id == first.refund_id
    assert len(await processor.gateway.refunds_of(view.intent_id)) == 1


async def test_a_goodwill_refund_keeps_the_providers_share(processor: Processor) -> None:
    view = await paid_intent(processor)
    request = refund_of(view, eur(700))

    refund = await processor.gateway.refund(
        RefundRequest(
            idempotency_key=request.idempotency_key,
            intent_id=view.intent_id,
            amount=request.amount,
            reverse_transfer=False,
            metadata={},
        )
    )

    assert refund.status is RefundStatus.SUCCEEDED


async def test_after_a_lost_answer_the_same_refund_key_refunds_once(
    processor: Processor,
) -> None:
    view = await paid_intent(processor)
    request = refund_of(view, eur(1500))
    processor.lose_next_answer("refund")
    with contextlib.suppress(processor.lost):
        await processor.gateway.refund(request)

    refund = await processor.gateway.refund(request)

    assert refund.status is RefundStatus.SUCCEEDED
    assert [r.refund_id for r in await processor.gateway.refunds_of(view.intent_id)] == [
        refund.refund_id
    ]
    assert processor.net_received("EUR") == PRICE.minor - 1500


async def test_a_failing_refund_is_pending_then_failed_on_reading_again(
    processor: Processor,
) -> None:
    view = await paid_intent(processor, "pm_card_refundFail")

    refund = await processor.gateway.refund(refund_of(view, eur(2000)))
    await processor.settle_refunds()
    later = await processor.gateway.refund_view(refund.refund_id)

    assert (refund.status, refund.failure) == (RefundStatus.PENDING, None)
    assert later.status is RefundStatus.FAILED
    assert later.failure
    assert await processor.gateway.refunds_of(view.intent_id) == [later]


# --- the balance, off-session -------------------------------------------------------------


async def saved_card(processor: Processor, card: str) -> tuple[IntentView, OffSessionRequest]:
    """A deposit paid with `card`, 3-D Secure passed if asked, and saved for the balance:
    the deposit as read back, and the balance's off-session charge."""
    gateway = processor.gateway
    request = await intent_request(processor, save_card=True)
    deposit = await gateway.create_intent(request)
    await processor.pay(deposit, card)
    if (await gateway.intent(deposit.intent_id)).status is PaymentStatus.REQUIRES_ACTION:
        await processor.authenticate(deposit.intent_id, succeed=True)
    deposit = await gateway.intent(deposit.intent_id)
    assert deposit.status is PaymentStatus.SUCCEEDED
    assert deposit.payment_method_id is not None
    balance = OffSessionRequest(
        idempotency_key=key("pay"),
        amount=eur(4000),
        commission=eur(400),
        destination=request.destination,
        customer_ref=request.customer_ref,
        payment_method_id=deposit.payment_method_id,
        metadata={"payment_id": str(uuid.uuid4())},
    )
    return deposit, balance


async def test_the_balance_is_charged_off_session_with_the_saved_card(
    processor: Processor,
) -> None:
    deposit, balance = await saved_card(processor, "pm_card_visa")

    result = await processor.gateway.charge_off_session(balance)
    again = await processor.gateway.charge_off_session(balance)

    assert isinstance(result, Success)
    view = result.unwrap()
    assert (view.status, view.amount_received) == (PaymentStatus.SUCCEEDED, 4000)
    assert view.card_fingerprint == deposit.card_fingerprint
    assert again.unwrap().intent_id == view.intent_id  # one charge for one key


async def test_after_a_lost_answer_the_same_key_charges_the_balance_once(
    processor: Processor,
) -> None:
    _, balance = await saved_card(processor, "pm_card_visa")
    processor.lose_next_answer("charge_off_session")
    with contextlib.suppress(processor.lost):
        await processor.gateway.charge_off_session(balance)

    result = await processor.gateway.charge_off_session(balance)

    assert result.unwrap().status is PaymentStatus.SUCCEEDED
    assert processor.net_received("EUR") == PRICE.minor + balance.amount.minor


async def test_a_card_saved_with_3d_secure_is_charged_off_session_without_it(
    processor: Processor,
) -> None:
    _, balance = await saved_card(processor, "pm_card_authenticationRequiredOnSetup")

    result = await processor.gateway.charge_off_session(balance)

    assert isinstance(result, Success)


async def test_a_bank_asking_for_authentication_off_session_is_card_not_charged(
    processor: Processor,
) -> None:
    _, balance = await saved_card(processor, "pm_card_threeDSecure2Required")

    result = await processor.gateway.charge_off_session(balance)

    assert isinstance(result, Failure)
    failure = result.failure()
    assert isinstance(failure, CardNotCharged)
    assert "authenticat" in failure.reason


# --- Connect and the books ----------------------------------------------------------------


async def test_a_provider_can_take_charges_after_visiting_the_onboarding_link(
    processor: Processor,
) -> None:
    gateway = processor.gateway
    account = await gateway.create_account(ProviderId(uuid.uuid4()), "p@x.test", "DE", key("a"))

    link = await gateway.onboarding_link(account.account_ref, RETURN_URL, RETURN_URL)
    await processor.visit(link)
    onboarded = await gateway.account(account.account_ref)

    assert (account.charges_enabled, account.payouts_enabled) == (False, False)
    assert link.startswith("http")
    assert onboarded.account_ref == account.account_ref
    assert (onboarded.charges_enabled, onboarded.payouts_enabled) == (True, True)


async def test_the_providers_balance_and_payout(processor: Processor) -> None:
    gateway = processor.gateway
    account = await provider_account(processor)
    customer = await gateway.create_customer(UserId(uuid.uuid4()), key("customer"))
    intent = await gateway.create_intent(
        IntentRequest(
            idempotency_key=key("pay"),
            amount=PRICE,
            commission=COMMISSION,
            destination=account,
            customer_ref=customer,
            save_card=False,
            metadata={},
        )
    )
    await processor.pay(intent, "pm_card_visa")

    balance = dict(await gateway.account_balance(account))
    payout_ref = await processor.pay_out(account, 1000, "eur")
    payout = await gateway.payout(account, payout_ref)
    after = dict(await gateway.account_balance(account))

    assert balance["available"] == PRICE - COMMISSION
    assert (payout.payout_ref, payout.account_ref, payout.amount) == (
        payout_ref,
        account,
        eur(1000),
    )
    assert payout.status == "paid"
    assert payout.arrived_at is not None
    assert after["available"] == PRICE - COMMISSION - eur(1000)


async def test_balance_lines_of_a_day_name_the_charge_with_its_fee_and_the_refund(
    processor: Processor,
) -> None:
    view = await paid_intent(processor)
    refund = await processor.gateway.refund(refund_of(view, eur(2000)))
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    lines = await processor.gateway.balance_lines(today, today + timedelta(days=1))
    tomorrow = await processor.gateway.balance_lines(
        today + timedelta(days=1), today + timedelta(days=2)
    )

    by_source = {line.source: line for line in lines}
    charge, refunded = by_source[view.charge_id], by_source[refund.refund_id]
    assert (charge.kind, charge.amount, charge.fee) == ("charge", PRICE, eur(view.fee_minor or 0))
    assert (refunded.kind, refunded.amount) == ("refund", Money(-2000, PRICE.currency))
    assert all(today <= line.created_at < today + timedelta(days=1) for line in lines)
    assert tomorrow == []
