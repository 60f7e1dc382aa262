"""Connect: onboarding express accounts, destination charges, balances, payouts, the ledger."""

from __future__ import annotations

import time

import httpx
import pytest
import stripe

from devservers.stripe_fake import StripeControl


def onboarded_account(client: stripe.StripeClient, control: StripeControl) -> stripe.Account:
    account = client.v1.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "email": "host@example.com",
            "capabilities": {
                "card_payments": {"requested": True},
                "transfers": {"requested": True},
            },
        }
    )
    control.complete_onboarding(account.id)
    return account


def available(client: stripe.StripeClient, account: str | None = None) -> int:
    options: stripe.RequestOptions = {"stripe_account": account} if account else {}
    balance = client.v1.balance.retrieve(options=options)
    return sum(funds.amount for funds in balance.available if funds.currency == "usd")


def test_an_account_link_completes_onboarding_and_says_so_with_a_connect_event(
    client: stripe.StripeClient, control: StripeControl
) -> None:
    account = client.v1.accounts.create(params={"type": "express", "country": "US"})
    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "refresh_url": "https://reserva.test/connect/refresh",
            "return_url": "https://reserva.test/connect/done",
            "type": "account_onboarding",
        }
    )

    visit = httpx.get(link.url)
    control.flush_webhooks()

    assert (account.charges_enabled, account.details_submitted) == (False, False)
    assert link.expires_at > link.created
    assert (visit.status_code, visit.headers["location"]) == (
        303,
        "https://reserva.test/connect/done",
    )
    done = client.v1.accounts.retrieve(account.id)
    assert (done.charges_enabled, done.payouts_enabled, done.details_submitted) == (True,) * 3
    [event] = [e["event"] for e in control.events() if e["event"]["type"] == "account.updated"]
    assert event["account"] == account.id
    assert event["data"]["previous_attributes"]["charges_enabled"] is False


def test_destination_charges_need_an_onboarded_account(
    client: stripe.StripeClient, control: StripeControl
) -> None:
    account = client.v1.accounts.create(params={"type": "express"})

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "transfer_data": {"destination": account.id}}
        )
    with pytest.raises(stripe.InvalidRequestError) as fee_alone:
        client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "application_fee_amount": 100}
        )

    assert refused.value.param == "transfer_data[destination]"
    assert fee_alone.value.param == "application_fee_amount"


def test_a_destination_charge_credits_the_account_less_the_application_fee(
    client: stripe.StripeClient, control: StripeControl
) -> None:
    account = onboarded_account(client, control)

    pi = client.v1.payment_intents.create(
        params={
            "amount": 10000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "transfer_data": {"destination": account.id},
            "application_fee_amount": 1000,
        }
    )
    credited = available(client, account.id)
    client.v1.refunds.create(
        params={
            "payment_intent": pi.id,
            "amount": 5000,
            "reverse_transfer": True,
            "refund_application_fee": True,
        }
    )

    assert credited == 9000
    assert available(client, account.id) == 9000 - 5000 + 500
    # charge 10000 - Stripe fee 320 - transfer 10000 + fee 1000 - refund 5000 + reversal 5000
    # - fee refund 500
    assert available(client) == 180


def test_a_payout_empties_the_connected_balance_and_is_only_seen_on_that_account(
    client: stripe.StripeClient, control: StripeControl
) -> None:
    account = onboarded_account(client, control)
    client.v1.payment_intents.create(
        params={
            "amount": 5000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "transfer_data": {"destination": account.id},
            "application_fee_amount": 500,
        }
    )

    payout = control.create_payout(account.id, 4500, "usd")
    control.flush_webhooks()

    fetched = client.v1.payouts.retrieve(payout["id"], options={"stripe_account": account.id})
    assert (fetched.status, fetched.amount) == ("paid", 4500)
    assert available(client, account.id) == 0
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payouts.retrieve(payout["id"])  # not a platform payout
    paid = [e["event"] for e in control.events() if e["event"]["type"] == "payout.paid"]
    assert [event["account"] for event in paid] == [account.id]


def test_balance_transactions_list_by_type_and_time_and_page(
    client: stripe.StripeClient,
) -> None:
    intents = [
        client.v1.payment_intents.create(
            params={
                "amount": 1000 * (i + 1),
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
            }
        )
        for i in range(3)
    ]
    client.v1.refunds.create(params={"payment_intent": intents[0].id, "amount": 250})
    since = int(time.time()) - 60

    page = client.v1.balance_transactions.list(params={"limit": 2, "created": {"gte": since}})
    rest = client.v1.balance_transactions.list(
        params={"limit": 2, "starting_after": page.data[-1].id}
    )
    charges = client.v1.balance_transactions.list(params={"type": "charge"})
    future = client.v1.balance_transactions.list(params={"created": {"gt": since + 3600}})

    assert [t.type for t in page.data] == ["refund", "charge"]
    assert page.has_more is True
    assert page.data[0].amount == -250
    assert page.data[0].reporting_category == "refund"
    assert [t.amount for t in rest.data] == [2000, 1000]
    assert rest.has_more is False
    assert [t.amount for t in charges.data] == [3000, 2000, 1000]
    assert all(t.net == t.amount - t.fee for t in charges.data)
    assert all(str(t.source).startswith("ch_") for t in charges.data)
    assert future.data == []
