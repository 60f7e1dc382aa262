"""The real app over real PostGIS and Redis; callers are named by opaque test tokens.

The container is the production one; only the authenticator (no identity service here) and the
clock (so tests can move time) are overridden, with `override`, never by patching.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from dependency_injector import providers

# Litestar's AsyncTestClient or a plain httpx client of a live server: the helpers take either.
from http_support import Client, TokenTable
from litestar import Litestar
from litestar.testing import AsyncTestClient

from adapters.memory.clock import FixedClock
from adapters.postgis import migrate
from devservers.postgres import LocalPostgres
from entrypoints.container import Container, build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from live_server import serving


@pytest.fixture(scope="session")
def http_database(postgres_server: LocalPostgres) -> str:
    """One migrated database for the HTTP suite; every test builds its own providers in it."""
    database = postgres_server.create_database("reserva_http")
    migrate.upgrade(database.migrator_url)
    return database.app_url


@pytest.fixture
def tokens() -> TokenTable:
    return TokenTable()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def container(
    http_database: str, redis_url: str, kek_file: Path, tokens: TokenTable, clock: FixedClock
) -> Iterator[Container]:
    container = build_container(
        Settings(database_url=http_database, redis_url=redis_url, kek_file=kek_file)
    )
    container.authenticator.override(providers.Object(tokens))
    container.clock.override(providers.Object(clock))
    yield container
    container.reset_override()


@pytest.fixture
def app(container: Container) -> Litestar:
    return create_app(http_services(container))


@pytest_asyncio.fixture
async def client(app: Litestar) -> AsyncIterator[Client]:
    """In-process and convenient, but it hands each request to the app's own thread and waits
    for the answer: requests from one test never overlap. Concurrency tests use `live`."""
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest_asyncio.fixture
async def live(app: Litestar) -> AsyncIterator[Client]:
    """A real uvicorn server on this event loop, and a client with no connection limit: the
    requests of an `asyncio.gather` really are in flight together."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with (
        serving(app) as base_url,
        httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client,
    ):
        yield client


# ---------------------------------------------------------------- building a catalog over HTTP
