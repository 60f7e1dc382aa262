"""The fake speaks Stripe's protocol: keys, form encoding, errors, idempotency, lists."""

from __future__ import annotations

import httpx
import pytest
import stripe

from devservers.stripe_fake import LocalStripe, StripeControl

SECRET_KEY = {"Authorization": "Bearer sk_test_raw"}


def test_requests_without_a_secret_key_are_refused_with_401(local_stripe: LocalStripe) -> None:
    anonymous = httpx.get(f"{local_stripe.api_base}/v1/customers")
    live_key = stripe.StripeClient("sk_live_nope", base_addresses={"api": local_stripe.api_base})
    publishable = stripe.StripeClient("pk_test_x", base_addresses={"api": local_stripe.api_base})

    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(stripe.AuthenticationError):
        live_key.v1.customers.create()
    with pytest.raises(stripe.AuthenticationError, match="publishable"):
        publishable.v1.customers.create()


def test_bracket_parameters_become_nested_objects_and_lists(local_stripe: LocalStripe) -> None:
    form = (
        "amount=1500&currency=EUR&metadata[booking_id]=bk_1&metadata[seats]=2"
        "&automatic_payment_methods[enabled]=true&confirm=true&payment_method=pm_card_visa"
        "&expand[]=latest_charge&expand[]=customer&customer="
    )
    response = httpx.post(
        f"{local_stripe.api_base}/v1/payment_intents",
        content=form,
        headers=SECRET_KEY | {"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 200, response.text
    pi = response.json()
    assert pi["metadata"] == {"booking_id": "bk_1", "seats": "2"}
    assert pi["currency"] == "eur"
    assert pi["automatic_payment_methods"]["enabled"] is True
    assert pi["latest_charge"]["object"] == "charge"  # expanded
    assert pi["customer"] is None  # an empty value unsets


def test_unknown_parameters_and_missing_objects_get_stripe_errors(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payment_intents.create(params={"amout": 1000, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_nope")
    with pytest.raises(stripe.InvalidRequestError) as bad_customer:
        client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "customer": "cus_nope"}
        )

    assert unknown.value.code == "parameter_unknown"
    assert unknown.value.param == "amout"
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    assert (bad_customer.value.http_status, bad_customer.value.param) == (400, "customer")


def test_objects_have_ids_types_creation_times_and_metadata(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada", "metadata": {"user_id": "u1"}}
    )
    fetched = client.v1.customers.retrieve(customer.id)

    assert customer.id.startswith("cus_")
    assert fetched.object == "customer"
    assert fetched.email == "ada@example.com"
    assert fetched.metadata.to_dict() == {"user_id": "u1"}
    assert fetched.livemode is False
    assert fetched.created > 1_700_000_000


def test_a_reused_idempotency_key_replays_the_stored_response_byte_for_byte(
    local_stripe: LocalStripe, control: StripeControl
) -> None:
    headers = SECRET_KEY | {"Idempotency-Key": "booking-42-pay"}
    form = {"amount": "2000", "currency": "usd", "metadata[booking_id]": "42"}
    url = f"{local_stripe.api_base}/v1/payment_intents"

    first = httpx.post(url, data=form, headers=headers)
    again = httpx.post(url, data=form, headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert control.stats()["counts"]["payment_intents"] == 1


def test_the_sdk_gets_the_same_object_back_for_the_same_key(
    client: stripe.StripeClient, control: StripeControl
) -> None:
    first, again = (
        client.v1.payment_intents.create(
            params={"amount": 2000, "currency": "usd"}, options={"idempotency_key": "k-1"}
        )
        for _ in range(2)
    )

    assert again.id == first.id
    assert again.client_secret == first.client_secret
    assert control.stats()["counts"]["payment_intents"] == 1


def test_a_key_reused_with_other_parameters_is_an_idempotency_error(
    client: stripe.StripeClient, control: StripeControl
) -> None:
    client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd"}, options={"idempotency_key": "k-2"}
    )

    with pytest.raises(stripe.IdempotencyError) as error:
        client.v1.payment_intents.create(
            params={"amount": 2500, "currency": "usd"}, options={"idempotency_key": "k-2"}
        )

    assert error.value.http_status == 400
    assert control.stats()["counts"]["payment_intents"] == 1


def test_a_card_error_is_replayed_too_but_a_refused_request_is_not_remembered(
    local_stripe: LocalStripe,
) -> None:
    url = f"{local_stripe.api_base}/v1/payment_intents"
    declined = {"amount": "900", "currency": "usd", "payment_method": "pm_card_chargeDeclined"}
    declined["confirm"] = "true"
    card_key = SECRET_KEY | {"Idempotency-Key": "decline"}
    bad_key = SECRET_KEY | {"Idempotency-Key": "invalid-first"}

    first, again = (httpx.post(url, data=declined, headers=card_key) for _ in range(2))
    refused = httpx.post(url, data={"amount": "0", "currency": "usd"}, headers=bad_key)
    fixed = httpx.post(url, data={"amount": "100", "currency": "usd"}, headers=bad_key)

    assert (first.status_code, again.status_code) == (402, 402)
    assert again.content == first.content
    assert refused.status_code == 400
    assert fixed.status_code == 200  # the key was not spent on a request that did nothing


def test_a_dropped_response_is_retried_by_the_sdk_and_makes_one_payment_intent(
    client: stripe.StripeClient, control: StripeControl
) -> None:
    control.drop_responses("/v1/payment_intents", times=1)

    pi = client.v1.payment_intents.create(
        params={
            "amount": 3000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )

    stats = control.stats()
    assert pi.status == "succeeded"
    assert stats["counts"]["payment_intents"] == 1
    assert stats["payment_intents"][pi.id]["charged"] == 3000
    assert stats["counts"]["charges"] == 1


# The SDK's httpx client posts form bytes with data=, which httpx deprecates.
@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
async def test_the_async_sdk_retries_a_dropped_response_as_well(
    local_stripe: LocalStripe, control: StripeControl
) -> None:
    http = stripe.HTTPXClient()
    client = stripe.StripeClient(
        "sk_test_async",
        base_addresses={"api": local_stripe.api_base},
        max_network_retries=2,
        http_client=http,
    )
    control.drop_responses("/v1/refunds")
    pi = await client.v1.payment_intents.create_async(
        params={"amount": 800, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )

    try:
        refund = await client.v1.refunds.create_async(params={"payment_intent": pi.id})
    finally:
        await http.close_async()

    assert refund.amount == 800
    assert control.stats()["counts"]["refunds"] == 1


def test_a_dropped_response_is_a_network_error_after_the_work_was_done(
    local_stripe: LocalStripe, control: StripeControl
) -> None:
    no_retries = stripe.StripeClient(
        "sk_test_x", base_addresses={"api": local_stripe.api_base}, max_network_retries=0
    )
    control.drop_responses("/v1/customers")

    with pytest.raises(stripe.APIConnectionError):
        no_retries.v1.customers.create(params={"email": "lost@example.com"})

    assert control.stats()["counts"]["customers"] == 1


def test_get_parameters_use_brackets_too(client: stripe.StripeClient) -> None:
    pi = client.v1.payment_intents.create(
        params={
            "amount": 1200,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )

    fetched = client.v1.payment_intents.retrieve(
        pi.id, params={"expand": ["latest_charge.balance_transaction"]}
    )

    charge = fetched.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert isinstance(charge.balance_transaction, stripe.BalanceTransaction)
    assert charge.balance_transaction.amount == 1200


def test_lists_page_newest_first_with_starting_after(client: stripe.StripeClient) -> None:
    made = [client.v1.customers.create(params={"name": f"c{i}"}).id for i in range(5)]

    first = client.v1.customers.list(params={"limit": 2})
    second = client.v1.customers.list(params={"limit": 2, "starting_after": first.data[-1].id})
    every = [customer.id for customer in client.v1.customers.list().auto_paging_iter()]

    assert [c.id for c in first.data] == made[:2:-1][:2]
    assert first.has_more is True
    assert [c.id for c in second.data] == made[2:0:-1]
    assert every == made[::-1]
