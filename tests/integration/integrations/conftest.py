"""Integrations fixtures: a database migrated to head (job queue included) on the session's
private PostgreSQL, emptied before each test that asks for it, and the stores the contract
runs over."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from integrations_pg_support import STORE_KINDS, TABLES, Store, memory_store, postgis_store
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis import migrate
from adapters.postgis.database import create_engine
from devservers.postgres import LocalDatabase, LocalPostgres


@pytest.fixture(scope="session")
def integrations_database(postgres_server: LocalPostgres) -> LocalDatabase:
    database = postgres_server.create_database("reserva_integrations")
    migrate.upgrade(database.migrator_url)
    return database


@pytest.fixture(scope="session")
async def app_engine(integrations_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(integrations_database.app_url, pool_size=5, max_overflow=10)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def owner_engine(integrations_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(integrations_database.migrator_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def engine(app_engine: AsyncEngine, owner_engine: AsyncEngine) -> AsyncEngine:
    """The app's engine over emptied integrations tables and job queue."""
    async with owner_engine.begin() as connection:
        await connection.execute(sa.text(f"TRUNCATE {TABLES}, procrastinate_jobs CASCADE"))
    return app_engine


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return memory_store()
    return postgis_store(request.getfixturevalue("engine"), request.getfixturevalue("owner_engine"))
