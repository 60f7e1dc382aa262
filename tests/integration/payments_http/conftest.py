"""Payments end to end: the production app on a real uvicorn server, over private PostGIS and
Redis, paying at the local Stripe fake through the real Stripe SDK; the fake's signed webhooks
come back to the app over HTTP, as Stripe's would.

The container is the production one; only the authenticator (test tokens, no identity service)
and the clock (tests move it) are overridden. The fake is started once per session and emptied
before each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from dependency_injector import providers
from payments_http_support import (
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    Browser,
    Client,
    TokenTable,
    in_thread,
)
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.postgis.database import create_engine
from devservers.net import free_port
from devservers.postgres import LocalDatabase, LocalPostgres
from devservers.stripe_fake import LocalStripe
from entrypoints.container import Container, build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from live_server import serving
from postgres_support import migrated_database


@pytest.fixture(scope="session")
def payments_http_database(postgres_server: LocalPostgres) -> LocalDatabase:
    return migrated_database(postgres_server, "reserva_payments_http")


@pytest.fixture(scope="session")
async def owner(payments_http_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
    """The schema owner: reads what the app role may not (the outbox, the inbox)."""
    engine = create_engine(payments_http_database.migrator_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def stripe_fake() -> Iterator[LocalStripe]:
    """Failing refunds (pm_card_refundFail) stay pending briefly, then fail."""
    with LocalStripe(free_port(), refund_failure_delay=0.3) as fake:
        yield fake


@pytest.fixture
async def fake(stripe_fake: LocalStripe) -> LocalStripe:
    """Empty, its webhooks not pointed anywhere yet (the app's server is not up)."""
    await in_thread(lambda: stripe_fake.control.configure_webhook(None, None))
    await in_thread(stripe_fake.control.reset)
    return stripe_fake


@pytest.fixture
def tokens() -> TokenTable:
    return TokenTable()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def container(
    payments_http_database: LocalDatabase,
    redis_url: str,
    kek_file: Path,
    fake: LocalStripe,
    tokens: TokenTable,
    clock: FixedClock,
) -> Iterator[Container]:
    settings = Settings(
        database_url=payments_http_database.app_url,
        redis_url=redis_url,
        kek_file=kek_file,
        stripe_api_key=SecretStr(SECRET_KEY),
        stripe_publishable_key=PUBLISHABLE_KEY,
        stripe_api_base=fake.api_base,
        stripe_webhook_secret=SecretStr(WEBHOOK_SECRET),
    )
    container = build_container(settings)
    container.authenticator.override(providers.Object(tokens))
    container.clock.override(providers.Object(clock))
    yield container
    container.reset_override()


@pytest.fixture
async def client(container: Container, fake: LocalStripe) -> AsyncIterator[Client]:
    """The app on a live server, the fake's webhooks pointed at it."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with (
        serving(create_app(http_services(container))) as base_url,
        httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client,
    ):
        url = f"{base_url}/webhooks/stripe"
        await in_thread(lambda: fake.control.configure_webhook(url, WEBHOOK_SECRET))
        try:
            yield client
        finally:
            # Let the last webhooks land while the app still answers, then stop sending.
            await in_thread(fake.control.flush_webhooks)
            await in_thread(lambda: fake.control.configure_webhook(None, None))


@pytest.fixture
async def browser(fake: LocalStripe) -> AsyncIterator[Browser]:
    async with httpx.AsyncClient(base_url=fake.api_base, timeout=30) as http:
        yield Browser(http=http)
