"""Messaging end to end: the production app on a real uvicorn server and a real worker (the
one `reserva serve` runs in process), over private PostGIS and Redis, sending through the real
SendGrid SDK and the WhatsApp adapter to the local messaging fake, whose signed webhooks come
back to the app over HTTP as SendGrid's and Meta's would.

The container is the production one; only the authenticator is widened (test tokens for staff
and admins besides real access tokens: customers register, verify and log in over HTTP).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from dependency_injector import providers
from messaging_http_support import WEB, Authenticators, Client, Fake, ok
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.database import create_engine
from devservers.child_process import ChildServer
from devservers.net import free_port
from devservers.postgres import LocalDatabase, LocalPostgres
from entrypoints.container import Container, build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from entrypoints.worker import WorkerOptions, start_in_process_worker
from entrypoints.worker.handlers import HANDLERS
from live_server import serving
from postgres_support import migrated_database

WHATSAPP_SECRET = "whatsapp-app-secret-e2e"
VERIFY_TOKEN = "whatsapp-verify-e2e"
PHONE_NUMBER_ID = "106540352242922"


@pytest.fixture(scope="session")
def messaging_http_database(postgres_server: LocalPostgres) -> LocalDatabase:
    return migrated_database(postgres_server, "reserva_messaging_http")


@pytest.fixture(scope="session")
async def owner(messaging_http_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
    """The schema owner: reads the job queue and the outbox as they are."""
    engine = create_engine(messaging_http_database.migrator_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def messaging_fake() -> Iterator[ChildServer]:
    with ChildServer("devservers.messaging_fake", free_port()) as server:
        yield server


@pytest.fixture
async def fake(messaging_fake: ChildServer) -> AsyncIterator[Fake]:
    """Emptied before each test; its webhooks pointed at nothing until the app is up."""
    async with httpx.AsyncClient(base_url=messaging_fake.base_url, timeout=30) as http:
        ok(await http.post("/_test/reset"))
        yield Fake(http)


@pytest.fixture
async def settings(
    messaging_http_database: LocalDatabase, redis_url: str, kek_file: Path, fake: Fake
) -> Settings:
    public_key = ok(await fake.http.get("/_test/sendgrid/public_key"))["public_key"]
    base = str(fake.http.base_url).rstrip("/")
    return Settings(
        database_url=messaging_http_database.app_url,
        redis_url=redis_url,
        kek_file=kek_file,
        argon2_memory_kib=1024,  # a cheap Argon2: these tests register many people
        argon2_time_cost=1,
        auth_request_limit=100_000,
        rate_limit_requests=0,
        sendgrid_api_key=SecretStr("SG.reserva-e2e"),
        sendgrid_api_host=base,
        sendgrid_event_public_key=public_key,
        whatsapp_access_token=SecretStr("EAAG-reserva-e2e"),
        whatsapp_api_base=base,
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        whatsapp_app_secret=SecretStr(WHATSAPP_SECRET),
        whatsapp_verify_token=SecretStr(VERIFY_TOKEN),
        public_web_url=WEB,
    )


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    container = build_container(settings)
    container.authenticator.override(providers.Object(Authenticators(container.authenticator())))
    yield container
    container.reset_override()
    await container.close()


@pytest.fixture
def people(container: Container) -> Authenticators:
    found = container.authenticator()
    assert isinstance(found, Authenticators)
    return found


@pytest.fixture
async def base_url(container: Container, fake: Fake) -> AsyncIterator[str]:
    """The app on a live server, the fake's webhooks pointed at it."""
    async with serving(create_app(http_services(container))) as base_url:
        await fake.point_webhooks(base_url, WHATSAPP_SECRET)
        yield base_url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        yield client


@pytest.fixture
async def worker(container: Container) -> AsyncIterator[None]:
    """The worker `reserva serve` runs, polling often (LISTEN/NOTIFY wakes it anyway)."""
    options = WorkerOptions(poll_every=timedelta(milliseconds=200), graceful=timedelta(seconds=5))
    running = start_in_process_worker(container, 2, handlers=HANDLERS, options=options)
    try:
        yield
    finally:
        await running.stop()
