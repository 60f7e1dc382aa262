"""How a fake is run: webhooks side by side as Stripe delivers them (`webhook_concurrency`; by
default one at a time, in order), and state kept across restarts (`state_file`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe
from stripe_fake_support import WEBHOOK_SECRET, WebhookReceiver

from devservers.net import free_port
from devservers.stripe_fake import LocalStripe

CUSTOMERS = 6


def _create_customers(api_base: str) -> None:
    client = stripe.StripeClient("sk_test_reserva", base_addresses={"api": api_base})
    for n in range(CUSTOMERS):
        client.v1.customers.create({"email": f"c{n}@example.com"})


@pytest.fixture
def slow_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.pause = 0.2  # long enough for deliveries to overlap when they may
    yield receiver
    receiver.close()


@pytest.mark.parametrize(("concurrency", "at_once"), [(1, 1), (4, 4)])
def test_deliveries_overlap_only_as_far_as_allowed(
    slow_receiver: WebhookReceiver, concurrency: int, at_once: int
) -> None:
    with LocalStripe(
        free_port(), slow_receiver.url, WEBHOOK_SECRET, webhook_concurrency=concurrency
    ) as fake:
        _create_customers(fake.api_base)
        slow_receiver.wait_for(lambda got: len(got) == CUSTOMERS)

    assert slow_receiver.most_in_flight == at_once
    assert sorted(slow_receiver.types()) == ["customer.created"] * CUSTOMERS


def test_with_a_state_file_objects_outlive_a_restart(tmp_path: Path) -> None:
    """`reserva serve` keeps the fake's state in ./.data: the account and customer ids our
    database stored must still be known to the next run."""
    state = tmp_path / "state.json"
    port = free_port()
    with LocalStripe(port, state_file=state) as fake:
        client = stripe.StripeClient("sk_test_reserva", base_addresses={"api": fake.api_base})
        customer = client.v1.customers.create({"email": "kept@example.com"})
    with LocalStripe(port, state_file=state) as fake:
        client = stripe.StripeClient("sk_test_reserva", base_addresses={"api": fake.api_base})
        again = client.v1.customers.retrieve(customer.id)
    with LocalStripe(free_port()) as fake:  # no state file: memory only
        client = stripe.StripeClient("sk_test_reserva", base_addresses={"api": fake.api_base})
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.customers.retrieve(customer.id)

    assert again.email == "kept@example.com"
