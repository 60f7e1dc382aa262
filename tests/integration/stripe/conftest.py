"""One local Stripe fake for the session (with a webhook endpoint), emptied before each test,
and the PaymentGateway backends the contract runs on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import stripe
from stripe_gateway_support import (
    SECRET_KEY,
    Processor,
    StripeProcessor,
    WebhookEndpoint,
    started_fake,
)

from adapters.stripe import StripePaymentGateway
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
        yield StripeProcessor(stripe_gateway, fake, browser, stripe.InvalidRequestError)


# The in-memory gateway (adapters.memory.payments.MemoryPaymentGateway, branch pay-core) runs
# the same contract once it lands: LEAD, give it a Processor driver in
# stripe_gateway_support.py and return it below instead of skipping.
@pytest.fixture(params=["stripe", "memory"])
def processor(request: pytest.FixtureRequest) -> Processor:
    if request.param == "memory":
        pytest.skip("MemoryPaymentGateway is not merged yet: its driver goes here")
    driver: Processor = request.getfixturevalue("stripe_processor")
    return driver
