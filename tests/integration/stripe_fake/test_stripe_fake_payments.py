"""PaymentIntents, charges and refunds behave as Stripe's do for each test card."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe

from devservers.stripe_fake import LocalStripe, StripeControl


def pay(client: stripe.StripeClient, amount: int = 1000, **params: Any) -> stripe.PaymentIntent:
    card = params.pop("payment_method", "pm_card_visa")
    return client.v1.payment_intents.create(
        params={"amount": amount, "currency": "usd", "payment_method": card, "confirm": True}
        | params  # type: ignore[arg-type]
    )


def charge_of(client: stripe.StripeClient, pi: stripe.PaymentIntent) -> stripe.Charge:
    assert isinstance(pi.latest_charge, str)
    return client.v1.charges.retrieve(pi.latest_charge)


def test_a_visa_payment_succeeds_with_a_charge_and_its_fee(client: stripe.StripeClient) -> None:
    pi = pay(client, 1000, metadata={"booking_id": "b1"})

    charge = client.v1.charges.retrieve(
        str(pi.latest_charge), params={"expand": ["balance_transaction"]}
    )
    assert (pi.status, pi.amount_received) == ("succeeded", 1000)
    assert charge.payment_intent == pi.id
    assert (charge.amount_captured, charge.amount_refunded, charge.refunded) == (1000, 0, False)
    assert charge.payment_method_details is not None
    card = charge.payment_method_details.card
    assert card is not None
    assert (card.brand, card.last4) == ("visa", "4242")
    assert charge.outcome is not None
    assert (charge.outcome.type, charge.outcome.risk_level) == ("authorized", "normal")
    txn = charge.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    assert (txn.type, txn.amount, txn.fee, txn.net) == ("charge", 1000, 59, 941)  # 2.9% + 30


def test_each_use_of_a_test_token_makes_a_payment_method_with_a_stable_fingerprint(
    client: stripe.StripeClient,
) -> None:
    first, second = pay(client), pay(client)

    methods = [client.v1.payment_methods.retrieve(str(pi.payment_method)) for pi in (first, second)]

    assert methods[0].id != methods[1].id
    assert methods[0].card is not None
    assert methods[1].card is not None
    assert methods[0].card.fingerprint == methods[1].card.fingerprint
    assert methods[0].card.last4 == "4242"


def test_a_declined_card_is_a_402_card_error_and_the_intent_wants_another_card(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.CardError) as declined:
        pay(client, payment_method="pm_card_chargeDeclined")

    error = declined.value
    assert error.http_status == 402
    assert (error.code, error.error.decline_code) == ("card_declined", "generic_decline")
    assert error.error.payment_intent is not None
    pi = client.v1.payment_intents.retrieve(error.error.payment_intent.id)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error is not None
    assert pi.last_payment_error.decline_code == "generic_decline"
    assert charge_of(client, pi).status == "failed"
    retried = client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    assert retried.status == "succeeded"


def test_three_d_secure_requires_action_then_succeeds_on_the_bank_page(
    client: stripe.StripeClient, control: StripeControl
) -> None:
    pi = pay(client, payment_method="pm_card_threeDSecure2Required", return_url="https://r.test/b")

    assert pi.status == "requires_action"
    assert pi.next_action is not None
    assert pi.next_action.redirect_to_url is not None
    assert pi.next_action.redirect_to_url.url.endswith(f"/_3ds/{pi.id}")
    back = control.complete_3ds(pi.id)

    assert back is not None
    assert back.startswith("https://r.test/b?")
    assert parse_qs(urlsplit(back).query)["redirect_status"] == ["succeeded"]
    done = client.v1.payment_intents.retrieve(pi.id)
    assert done.status == "succeeded"
    card = charge_of(client, done).payment_method_details
    assert card is not None
    assert card.card is not None
    assert card.card.three_d_secure is not None
    assert card.card.three_d_secure.result == "authenticated"


def test_a_failed_authentication_leaves_the_intent_wanting_a_payment_method(
    client: stripe.StripeClient, control: StripeControl, local_stripe: LocalStripe
) -> None:
    pi = pay(client, payment_method="pm_card_threeDSecure2Required")
    redirect_url = pi.next_action.redirect_to_url.url  # type: ignore[union-attr]

    page = httpx.get(redirect_url)
    control.complete_3ds(pi.id, succeed=False)

    assert page.status_code == 200
    assert "3-D Secure" in page.text
    failed = client.v1.payment_intents.retrieve(pi.id)
    assert failed.status == "requires_payment_method"
    assert failed.last_payment_error is not None
    assert failed.last_payment_error.code == "payment_intent_authentication_failure"


def test_a_card_saved_for_off_session_use_is_charged_off_session_without_3ds(
    client: stripe.StripeClient, control: StripeControl
) -> None:
    customer = client.v1.customers.create(params={"email": "saver@example.com"})
    first = pay(
        client,
        payment_method="pm_card_authenticationRequiredOnSetup",
        customer=customer.id,
        setup_future_usage="off_session",
    )
    assert first.status == "requires_action"  # on-session: authenticate once
    control.complete_3ds(first.id)
    saved = client.v1.payment_methods.retrieve(str(first.payment_method))

    later = pay(client, 500, payment_method=saved.id, customer=customer.id, off_session=True)

    assert saved.customer == customer.id
    assert later.status == "succeeded"


def test_a_card_that_always_needs_3ds_fails_off_session_with_authentication_required(
    client: stripe.StripeClient, control: StripeControl
) -> None:
    customer = client.v1.customers.create()
    first = pay(
        client,
        payment_method="pm_card_threeDSecure2Required",
        customer=customer.id,
        setup_future_usage="off_session",
    )
    control.complete_3ds(first.id)

    with pytest.raises(stripe.CardError) as error:
        pay(
            client, payment_method=str(first.payment_method), customer=customer.id, off_session=True
        )

    assert error.value.code == "authentication_required"
    assert error.value.error.payment_intent is not None
    assert error.value.error.payment_intent.status == "requires_payment_method"


def test_radar_flags_elevated_risk_and_blocks_the_highest(client: stripe.StripeClient) -> None:
    elevated = charge_of(client, pay(client, payment_method="pm_card_riskLevelElevated"))
    with pytest.raises(stripe.CardError) as blocked:
        pay(client, payment_method="pm_card_riskLevelHighest")

    assert elevated.outcome is not None
    assert (elevated.status, elevated.outcome.risk_level) == ("succeeded", "elevated")
    assert elevated.outcome.risk_score == 70
    assert blocked.value.error.charge is not None
    outcome = client.v1.charges.retrieve(blocked.value.error.charge).outcome
    assert outcome is not None
    assert (outcome.type, outcome.risk_level) == ("blocked", "highest")


@pytest.mark.parametrize(
    ("currency", "amount", "fee"),
    [("usd", 1000, 59), ("jpy", 500, 18), ("kwd", 10000, 590), ("eur", 1050, 60)],
)
def test_fees_follow_the_documented_rule(
    client: stripe.StripeClient, currency: str, amount: int, fee: int
) -> None:
    pi = pay(client, amount, currency=currency)

    txn = client.v1.balance_transactions.retrieve(str(charge_of(client, pi).balance_transaction))

    assert (txn.amount, txn.fee, txn.net) == (amount, fee, amount - fee)


def test_three_decimal_currencies_take_only_multiples_of_ten(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.create(params={"amount": 1005, "currency": "kwd"})
    with pytest.raises(stripe.InvalidRequestError) as too_small:
        client.v1.payment_intents.create(params={"amount": 10, "currency": "usd"})

    accepted = client.v1.payment_intents.create(params={"amount": 1010, "currency": "kwd"})
    yen = client.v1.payment_intents.create(params={"amount": 51, "currency": "jpy"})

    assert (refused.value.param, refused.value.code) == ("amount", "invalid_charge_amount")
    assert too_small.value.code == "amount_too_small"
    assert (accepted.amount, yen.amount) == (1010, 51)


def test_manual_capture_authorises_then_captures_part(client: stripe.StripeClient) -> None:
    pi = pay(client, 1000, capture_method="manual")
    assert (pi.status, pi.amount_capturable) == ("requires_capture", 1000)

    captured = client.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 600})

    charge = charge_of(client, captured)
    assert (captured.status, captured.amount_received) == ("succeeded", 600)
    assert (charge.amount_captured, charge.amount_refunded) == (600, 400)  # the rest released
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 601})


def test_updates_and_cancels_follow_the_status(client: stripe.StripeClient) -> None:
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    updated = client.v1.payment_intents.update(
        pi.id, params={"amount": 1500, "metadata": {"booking_id": "b9"}}
    )
    canceled = client.v1.payment_intents.cancel(pi.id, params={"cancellation_reason": "abandoned"})
    paid = pay(client)

    assert (updated.amount, updated.metadata.to_dict()) == (1500, {"booking_id": "b9"})
    assert canceled.status == "canceled"
    with pytest.raises(stripe.InvalidRequestError) as late:
        client.v1.payment_intents.update(paid.id, params={"amount": 5})
    assert late.value.code == "payment_intent_unexpected_state"
    tagged = client.v1.payment_intents.update(paid.id, params={"metadata": {"note": "ok"}})
    assert tagged.metadata.to_dict() == {"note": "ok"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.cancel(paid.id)


def test_the_browser_confirms_with_the_publishable_key_and_client_secret(
    client: stripe.StripeClient, local_stripe: LocalStripe
) -> None:
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    url = f"{local_stripe.api_base}/v1/payment_intents/{pi.id}/confirm"
    browser = {"Authorization": "Bearer pk_test_reserva"}

    wrong = httpx.post(url, data={"client_secret": "pi_x_secret_y"}, headers=browser)
    confirmed = httpx.post(
        url,
        data={"client_secret": pi.client_secret, "payment_method": "pm_card_visa"},
        headers=browser,
    )

    assert wrong.status_code == 400
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "succeeded"


def test_refunds_never_exceed_what_is_left_on_the_charge(
    client: stripe.StripeClient, control: StripeControl
) -> None:
    pi = pay(client, 1000)

    first = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 600})
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 500})
    rest = client.v1.refunds.create(params={"payment_intent": pi.id})
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1})

    assert (first.status, rest.status, rest.amount) == ("succeeded", "succeeded", 400)
    assert too_much.value.code == "amount_too_large"
    assert again.value.code == "charge_already_refunded"
    charge = charge_of(client, pi)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    listed = client.v1.refunds.list(params={"payment_intent": pi.id})
    assert [r.id for r in listed.data] == [rest.id, first.id]
    assert control.stats()["payment_intents"][pi.id] == {
        "currency": "usd",
        "charged": 1000,
        "refunded": 1000,
    }
    txn = client.v1.balance_transactions.retrieve(str(first.balance_transaction))
    assert (txn.type, txn.amount) == ("refund", -600)


def test_a_refund_to_a_dead_card_goes_pending_then_fails_and_frees_the_amount(
    client: stripe.StripeClient, control: StripeControl
) -> None:
    pi = pay(client, 1000, payment_method="pm_card_refundFail")

    refund = client.v1.refunds.create(params={"payment_intent": pi.id})
    pending_charge = charge_of(client, pi)
    deadline = time.monotonic() + 5
    while (failed := client.v1.refunds.retrieve(refund.id)).status == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert refund.status == "pending"
    assert pending_charge.amount_refunded == 1000
    assert (failed.status, failed.failure_reason) == ("failed", "expired_or_canceled_card")
    assert charge_of(client, pi).amount_refunded == 0
    second = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 300})
    assert control.settle_refunds() == [second.id]
    assert client.v1.refunds.retrieve(second.id).status == "failed"
