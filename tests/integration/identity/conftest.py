"""Identity integration fixtures: a migrated database of its own on the session's private
PostgreSQL, and the unit-of-work factories the contract suite runs over."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from identity_integration_support import (
    IDENTITY_TABLES,
    START,
    Store,
    memory_store,
    postgis_store,
)
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.postgis import migrate
from adapters.postgis.database import create_engine
from adapters.security.keyring import AesGcmKeyring, FileKeyStore
from devservers.postgres import LocalDatabase, LocalPostgres
from identity_wiring import IdentityPorts, real_deps

# The person keys and the lookup-hash key (a test may seal under a key file of its own).
KEY_TABLES = ("person_keys", "privacy_lookup_keys")


@pytest.fixture(scope="session")
def identity_database(postgres_server: LocalPostgres) -> LocalDatabase:
    """A database of our own (signing keys are global state), migrated with Alembic."""
    database = postgres_server.create_database("reserva_identity")
    migrate.upgrade(database.migrator_url)
    return database


@pytest.fixture(scope="session")
async def identity_engine(identity_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
    """As the app role, like the service."""
    engine = create_engine(identity_database.app_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def owner_engine(identity_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
    """As the schema owner: what the app role may not do (TRUNCATE, altering triggers)."""
    engine = create_engine(identity_database.migrator_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def clean_engine(identity_engine: AsyncEngine, owner_engine: AsyncEngine) -> AsyncEngine:
    """The app's engine over emptied identity tables and person keys (the owner's TRUNCATE is
    not a row DELETE: the audit log's trigger lets test cleanup through)."""
    async with owner_engine.begin() as connection:
        await connection.execute(sa.text(f"TRUNCATE {', '.join(IDENTITY_TABLES + KEY_TABLES)}"))
    return identity_engine


@pytest.fixture(params=["memory", "postgis"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return memory_store()
    return postgis_store(
        request.getfixturevalue("clean_engine"), request.getfixturevalue("keyring")
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture(scope="session")
def keyring(kek_file: Path) -> AesGcmKeyring:
    return AesGcmKeyring(FileKeyStore(kek_file))


@pytest.fixture
def pg_deps(clean_engine: AsyncEngine, keyring: AesGcmKeyring, clock: FixedClock) -> IdentityPorts:
    return real_deps(clean_engine, keyring, clock)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()
