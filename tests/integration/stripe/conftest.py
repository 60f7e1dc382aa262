"""One local Stripe fake for the session (with a webhook endpoint), emptied before each test,
and the PaymentGateway backends the contract runs on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import stripe
from stripe_gateway_support import (
    SECRET_KEY,
    MemoryProcessor,
    Processor,
    StripeProcessor,
    WebhookEndpoint,
    started_fake,
)

from adapters.memory.payments import MemoryPaymentGateway
from adapters.stripe import StripePaymentGateway
from adapters.system.clock import SystemClock
from devservers.stripe_fake import LocalStripe


@pytest.fixture(scope="session")
def webhook_endpoint() -> Iterator[WebhookEndpoint]:
    endpoint = WebhookEndpoint()
    yield endpoint
    endpoint.close()


@pytest.fixture(scope="session")
def local_stripe(webhook_endpoint: WebhookEndpoint) -> Iterator[LocalStripe]:
    yield from started_fake(webhook_endpoint)


@pytest.fixture
def fake(local_stripe: LocalStripe, webhook_endpoint: WebhookEndpoint) -> LocalStripe:
    """The fake, forgetting what earlier tests did (their last webhooks landed first)."""
    local_stripe.control.flush_webhooks()
    local_stripe.control.reset()
    webhook_endpoint.take()
    return local_stripe


@pytest.fixture
async def stripe_gateway(fake: LocalStripe) -> AsyncIterator[StripePaymentGateway]:
    gateway = StripePaymentGateway(SECRET_KEY, fake.api_base)
    yield gateway
    await gateway.close()


@pytest.fixture
async def stripe_processor(
    fake: LocalStripe, stripe_gateway: StripePaymentGateway
) -> AsyncIterator[StripeProcessor]:
    async with httpx.AsyncClient(base_url=fake.api_base) as browser:
        yield StripeProcessor(
            stripe_gateway, fake, browser, stripe.InvalidRequestError, stripe.APIConnectionError
        )


@pytest.fixture(params=["stripe", "memory"])
def processor(request: pytest.FixtureRequest) -> Processor:
    """Every backend of the PaymentGateway contract."""
    if request.param == "memory":
        return MemoryProcessor(MemoryPaymentGateway(SystemClock()))
    driver: Processor = request.getfixturevalue("stripe_processor")
    return driver
