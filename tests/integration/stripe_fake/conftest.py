"""One Stripe fake for the session, driven through the real stripe SDK, with a webhook
endpoint in a thread; every test starts from an empty fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe
from stripe_fake_support import WEBHOOK_SECRET, WebhookReceiver

from devservers.net import free_port
from devservers.stripe_fake import LocalStripe, StripeControl


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def local_stripe(webhook_receiver: WebhookReceiver) -> Iterator[LocalStripe]:
    with LocalStripe(free_port(), webhook_receiver.url, WEBHOOK_SECRET) as fake:
        yield fake


@pytest.fixture(autouse=True)
def control(local_stripe: LocalStripe, webhook_receiver: WebhookReceiver) -> StripeControl:
    """The fake's test controls, after forgetting what earlier tests did (and letting their
    last webhook land, so it cannot arrive in this test)."""
    local_stripe.control.reset()
    local_stripe.control.flush_webhooks()
    webhook_receiver.clear()
    return local_stripe.control


@pytest.fixture(scope="session")
def client(local_stripe: LocalStripe) -> stripe.StripeClient:
    """What the application will use: the official SDK, retries on, pointed at the fake."""
    return stripe.StripeClient(
        "sk_test_reserva", base_addresses={"api": local_stripe.api_base}, max_network_retries=2
    )
