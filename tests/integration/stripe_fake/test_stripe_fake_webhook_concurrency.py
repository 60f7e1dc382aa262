"""Stripe delivers webhooks side by side and promises no order; the fake does the same when
asked (`webhook_concurrency`), and by default delivers one at a time, in order."""

from __future__ import annotations

from collections.abc import Iterator

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
