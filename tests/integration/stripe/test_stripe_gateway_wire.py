"""What only Stripe has: the parameters on the wire, network failures with the SDK's retries,
and webhooks the fake signs as Stripe does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
import stripe
from returns.result import Failure, Success
from stripe_gateway_support import (
    RETURN_URL,
    SECRET_KEY,
    WEBHOOK_SECRET,
    StripeProcessor,
    WebhookEndpoint,
)

from adapters.stripe import StripePaymentGateway, StripeWebhookVerifier
from core.payments.model import BadSignature, PaymentStatus
from core.payments.ports import IntentRequest, OffSessionRequest, RefundRequest
from core.shared.ids import ProviderId, UserId
from core.shared.money import Money
from devservers.net import free_port
from devservers.stripe_fake import LocalStripe


def key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


async def onboarded(processor: StripeProcessor) -> str:
    gateway = processor.gateway
    account = await gateway.create_account(ProviderId(uuid.uuid4()), None, "DE", key("acct"))
    await processor.visit(
        await gateway.onboarding_link(account.account_ref, RETURN_URL, RETURN_URL)
    )
    return account.account_ref


async def request_for(
    processor: StripeProcessor, amount: Money, commission: Money, *, save_card: bool = False
) -> IntentRequest:
    return IntentRequest(
        idempotency_key=key("pay"),
        amount=amount,
        commission=commission,
        destination=await onboarded(processor),
        customer_ref=await processor.gateway.create_customer(UserId(uuid.uuid4()), key("cus")),
        save_card=save_card,
        metadata={"payment_id": "p-1", "booking_id": "b-1"},
    )


def raw(fake: LocalStripe) -> stripe.StripeClient:
    """The fake's objects as Stripe shows them (to check what the gateway sent)."""
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": fake.api_base})


def money(minor: int, currency: str = "EUR") -> Money:
    return Money.of(minor, currency).unwrap()


# --- parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize("save_card", [False, True])
async def test_an_intent_is_a_destination_charge_with_the_commission_as_application_fee(
    stripe_processor: StripeProcessor, fake: LocalStripe, save_card: bool
) -> None:
    request = await request_for(stripe_processor, money(5000), money(500), save_card=save_card)

    view = await stripe_processor.gateway.create_intent(request)

    intent = raw(fake).v1.payment_intents.retrieve(view.intent_id)
    assert (intent.amount, intent.currency) == (5000, "eur")
    assert intent.application_fee_amount == 500
    assert intent.transfer_data is not None
    assert intent.transfer_data.destination == request.destination
    assert intent.customer == request.customer_ref
    assert intent.automatic_payment_methods is not None
    assert intent.automatic_payment_methods.enabled
    assert intent.setup_future_usage == ("off_session" if save_card else None)
    assert intent.metadata.to_dict() == {"payment_id": "p-1", "booking_id": "b-1"}


@pytest.mark.parametrize(("minor", "currency"), [(5000, "JPY"), (12340, "KWD"), (999, "USD")])
async def test_amounts_go_in_the_currencys_minor_units(
    stripe_processor: StripeProcessor, fake: LocalStripe, minor: int, currency: str
) -> None:
    request = await request_for(stripe_processor, money(minor, currency), money(0, currency))

    view = await stripe_processor.gateway.create_intent(request)
    await stripe_processor.pay(view, "pm_card_visa")

    intent = raw(fake).v1.payment_intents.retrieve(view.intent_id)
    assert (intent.amount, intent.currency) == (minor, currency.lower())
    assert intent.application_fee_amount is None  # no commission: no application fee
    assert (await stripe_processor.gateway.intent(view.intent_id)).amount_received == minor


async def test_a_policy_refund_takes_back_the_providers_share_and_the_fee_goodwill_neither(
    stripe_processor: StripeProcessor, fake: LocalStripe
) -> None:
    gateway = stripe_processor.gateway
    request = await request_for(stripe_processor, money(5000), money(500))
    intent = await gateway.create_intent(request)
    await stripe_processor.pay(intent, "pm_card_visa")
    charge_id = (await gateway.intent(intent.intent_id)).charge_id
    assert charge_id is not None

    for reverse, amount in ((True, 2000), (False, 1000)):
        await gateway.refund(
            RefundRequest(
                idempotency_key=key("refund"),
                intent_id=intent.intent_id,
                amount=money(amount),
                reverse_transfer=reverse,
                metadata={"refund_id": "r-1"},
            )
        )

    client = raw(fake)
    charge = client.v1.charges.retrieve(charge_id)
    assert isinstance(charge.transfer, str)
    assert isinstance(charge.application_fee, str)
    transfer = client.v1.transfers.retrieve(charge.transfer)
    fee = client.v1.application_fees.retrieve(charge.application_fee)
    assert charge.amount_refunded == 3000
    assert transfer.amount_reversed == 2000  # the policy refund's share only
    assert fee.amount_refunded == 200  # 2000 / 5000 of the 500 commission


async def test_a_policy_refund_of_a_charge_without_commission(
    stripe_processor: StripeProcessor,
) -> None:
    gateway = stripe_processor.gateway
    intent = await gateway.create_intent(await request_for(stripe_processor, money(5000), money(0)))
    await stripe_processor.pay(intent, "pm_card_visa")

    refund = await gateway.refund(
        RefundRequest(
            idempotency_key=key("refund"),
            intent_id=intent.intent_id,
            amount=money(5000),
            reverse_transfer=True,
            metadata={},
        )
    )

    assert refund.status.value == "succeeded"


# --- the network fails --------------------------------------------------------------------


def stats(fake: LocalStripe) -> dict[str, Any]:
    return fake.control.stats()


async def test_a_lost_answer_to_creating_an_intent_is_retried_into_one_intent(
    stripe_processor: StripeProcessor, fake: LocalStripe
) -> None:
    request = await request_for(stripe_processor, money(5000), money(500))
    fake.control.drop_responses("/v1/payment_intents")

    view = await stripe_processor.gateway.create_intent(request)

    assert view.status is PaymentStatus.CREATED
    assert stats(fake)["counts"]["payment_intents"] == 1


async def test_a_lost_answer_to_an_off_session_charge_charges_once(
    stripe_processor: StripeProcessor, fake: LocalStripe
) -> None:
    gateway = stripe_processor.gateway
    deposit_request = await request_for(stripe_processor, money(1000), money(100), save_card=True)
    deposit = await gateway.create_intent(deposit_request)
    await stripe_processor.pay(deposit, "pm_card_visa")
    method = (await gateway.intent(deposit.intent_id)).payment_method_id
    assert method is not None
    fake.control.drop_responses("/v1/payment_intents")

    result = await gateway.charge_off_session(
        OffSessionRequest(
            idempotency_key=key("balance"),
            amount=money(4000),
            commission=money(400),
            destination=deposit_request.destination,
            customer_ref=deposit_request.customer_ref,
            payment_method_id=method,
            metadata={"payment_id": "p-2"},
        )
    )

    assert isinstance(result, Success)
    charged = stats(fake)["payment_intents"]
    assert charged[result.unwrap().intent_id]["charged"] == 4000
    assert stats(fake)["counts"]["charges"] == 2  # the deposit's and the balance's


async def test_a_lost_answer_to_a_refund_refunds_once(
    stripe_processor: StripeProcessor, fake: LocalStripe
) -> None:
    gateway = stripe_processor.gateway
    intent = await gateway.create_intent(
        await request_for(stripe_processor, money(5000), money(500))
    )
    await stripe_processor.pay(intent, "pm_card_visa")
    fake.control.drop_responses("/v1/refunds")

    await gateway.refund(
        RefundRequest(
            idempotency_key=key("refund"),
            intent_id=intent.intent_id,
            amount=money(1500),
            reverse_transfer=True,
            metadata={},
        )
    )

    assert stats(fake)["payment_intents"][intent.intent_id]["refunded"] == 1500
    assert stats(fake)["counts"]["refunds"] == 1


async def test_without_retries_a_lost_answer_raises_and_the_callers_retry_creates_nothing_new(
    stripe_processor: StripeProcessor, fake: LocalStripe
) -> None:
    request = await request_for(stripe_processor, money(5000), money(500))
    gateway = StripePaymentGateway(SECRET_KEY, fake.api_base, max_network_retries=0)
    fake.control.drop_responses("/v1/payment_intents")
    try:
        with pytest.raises(stripe.APIConnectionError):
            await gateway.create_intent(request)
        view = await gateway.create_intent(request)  # after a crash: the stored key again
    finally:
        await gateway.close()

    assert stats(fake)["counts"]["payment_intents"] == 1
    assert view.status is PaymentStatus.CREATED


async def test_an_unreachable_stripe_raises() -> None:
    gateway = StripePaymentGateway(
        SECRET_KEY, f"http://127.0.0.1:{free_port()}", max_network_retries=0
    )
    try:
        with pytest.raises(stripe.APIConnectionError):
            await gateway.account("acct_1")
    finally:
        await gateway.close()


async def test_a_card_error_off_session_is_an_answer_not_an_exception(
    stripe_processor: StripeProcessor,
) -> None:
    """A decline replayed under the same key stays a decline (Stripe stores 402s too)."""
    gateway = stripe_processor.gateway
    deposit_request = await request_for(stripe_processor, money(1000), money(100), save_card=True)
    deposit = await gateway.create_intent(deposit_request)
    await stripe_processor.pay(deposit, "pm_card_threeDSecure2Required")
    await stripe_processor.authenticate(deposit.intent_id, succeed=True)
    method = (await gateway.intent(deposit.intent_id)).payment_method_id
    assert method is not None
    balance = OffSessionRequest(
        idempotency_key=key("balance"),
        amount=money(4000),
        commission=money(400),
        destination=deposit_request.destination,
        customer_ref=deposit_request.customer_ref,
        payment_method_id=method,
        metadata={},
    )

    first = await gateway.charge_off_session(balance)
    again = await gateway.charge_off_session(balance)

    assert isinstance(first, Failure)
    assert first == again


# --- webhooks, as the fake delivers them --------------------------------------------------


async def test_the_fakes_webhooks_verify_and_name_their_objects(
    stripe_processor: StripeProcessor, fake: LocalStripe, webhook_endpoint: WebhookEndpoint
) -> None:
    gateway = stripe_processor.gateway
    intent = await gateway.create_intent(
        await request_for(stripe_processor, money(5000), money(500))
    )
    await stripe_processor.pay(intent, "pm_card_visa")
    fake.control.flush_webhooks()

    deliveries = webhook_endpoint.take()
    verifier = StripeWebhookVerifier(WEBHOOK_SECRET)
    events = [verifier.verify(d.body, d.signature).unwrap() for d in deliveries]

    by_type = {event.type: event for event in events}
    assert by_type["payment_intent.succeeded"].object_id == intent.intent_id
    assert by_type["payment_intent.succeeded"].account_ref is None
    onboarding = by_type["account.updated"]
    assert onboarding.account_ref == onboarding.object_id  # a Connect event
    assert [e.id for e in events] == [d.event["id"] for d in deliveries]


async def test_a_delivery_with_another_secret_or_another_body_is_refused(
    stripe_processor: StripeProcessor, fake: LocalStripe, webhook_endpoint: WebhookEndpoint
) -> None:
    await stripe_processor.gateway.create_customer(UserId(uuid.uuid4()), key("cus"))
    fake.control.flush_webhooks()
    (delivery,) = webhook_endpoint.take()

    wrong_secret = StripeWebhookVerifier("whsec_other").verify(delivery.body, delivery.signature)
    tampered = StripeWebhookVerifier(WEBHOOK_SECRET).verify(
        delivery.body.replace(b"customer.created", b"customer.deleted"), delivery.signature
    )

    assert isinstance(wrong_secret, Failure)
    assert isinstance(wrong_secret.failure(), BadSignature)
    assert isinstance(tampered, Failure)
    assert isinstance(tampered.failure(), BadSignature)


async def test_balance_lines_are_read_page_after_page(stripe_processor: StripeProcessor) -> None:
    """A paid destination charge makes three platform lines; Stripe pages by 100."""
    gateway = stripe_processor.gateway
    request = await request_for(stripe_processor, money(5000), money(500))
    charges = set()
    for _ in range(35):
        intent = await gateway.create_intent(attrs.evolve(request, idempotency_key=key("pay")))
        await stripe_processor.pay(intent, "pm_card_visa")
        charges.add((await gateway.intent(intent.intent_id)).charge_id)
    now = datetime.now(UTC)

    lines = await gateway.balance_lines(now - timedelta(hours=1), now + timedelta(hours=1))

    assert len(lines) == len({line.ref for line in lines}) == 105
    assert {line.source for line in lines if line.kind == "charge"} == charges
