"""Messaging store fixtures: a migrated database of its own on the session's private PostgreSQL,
emptied before each test that asks for it, and the stores the contract runs over."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from messaging_postgis_support import STORE_KINDS, TRUNCATED, Store, memory_store, postgis_store
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis import migrate
from adapters.postgis.database import create_engine
from devservers.postgres import LocalDatabase, LocalPostgres


@pytest.fixture(scope="session")
def messaging_database(postgres_server: LocalPostgres) -> LocalDatabase:
    database = postgres_server.create_database("reserva_messaging")
    migrate.upgrade(database.migrator_url)
    return database


@pytest.fixture(scope="session")
async def app_engine(messaging_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
    """As the app role, like the service; room for many concurrent units of work."""
    engine = create_engine(messaging_database.app_url, pool_size=20, max_overflow=60)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def owner_engine(messaging_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
    """As the schema owner: seeds other contexts' rows, empties tables."""
    engine = create_engine(messaging_database.migrator_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def engine(app_engine: AsyncEngine, owner_engine: AsyncEngine) -> AsyncEngine:
    """The app's engine over emptied tables."""
    async with owner_engine.begin() as connection:
        await connection.execute(sa.text(f"TRUNCATE {TRUNCATED} CASCADE"))
    return app_engine


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return memory_store()
    return postgis_store(request.getfixturevalue("engine"))
