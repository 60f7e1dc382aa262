"""The production app over real PostgreSQL and Redis, with real access tokens.

Nothing is overridden but the clock (so tests can move time). Every test talks from an IP of
its own, so the per-IP limits of one test never touch another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from dependency_injector import providers
from identity_http_support import Client, cheap_settings, client_at, unique_ip
from litestar import Litestar

from adapters.memory.clock import FixedClock
from adapters.postgis import migrate
from devservers.postgres import LocalPostgres
from entrypoints.container import Container, build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from live_server import serving


@pytest.fixture(scope="session")
def identity_http_database(postgres_server: LocalPostgres) -> str:
    database = postgres_server.create_database("reserva_identity_http")
    migrate.upgrade(database.migrator_url)
    return database.app_url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def settings(identity_http_database: str, redis_url: str, kek_file: Path) -> Settings:
    return cheap_settings(identity_http_database, redis_url, kek_file)


@pytest_asyncio.fixture
async def container(settings: Settings, clock: FixedClock) -> AsyncIterator[Container]:
    container = build_container(settings)
    container.clock.override(providers.Object(clock))
    yield container
    await container.close()


@pytest.fixture
def app(container: Container) -> Litestar:
    return create_app(http_services(container))


@pytest_asyncio.fixture
async def client(app: Litestar) -> AsyncIterator[Client]:
    async with client_at(app, unique_ip()) as client:
        yield client


@pytest_asyncio.fixture
async def live(app: Litestar) -> AsyncIterator[str]:
    """The app on a real uvicorn server on this event loop; its base URL. Requests of an
    `asyncio.gather` are really in flight together (see `live_client_at`)."""
    async with serving(app) as base_url:
        yield base_url
