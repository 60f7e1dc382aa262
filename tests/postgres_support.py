"""The PostgreSQL fixtures a context's integration tests share: a database of its own migrated
to head on the session's private server, engines as the app role and as the schema owner, and
the app's engine over emptied tables. A conftest binds them to its context:

    context_database, app_engine, owner_engine, engine = migrated_context(
        "reserva_payments", truncate=PAYMENTS_TABLES, pool_size=20, max_overflow=100
    )

Imported by bare name, like `messaging_fake_support`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis import migrate
from adapters.postgis.database import create_engine
from devservers.postgres import LocalDatabase, LocalPostgres


def migrated_database(postgres_server: LocalPostgres, name: str) -> LocalDatabase:
    """A database `name` on the session's server, migrated to head."""
    database = postgres_server.create_database(name)
    migrate.upgrade(database.migrator_url)
    return database


def migrated_context(
    name: str, *, truncate: str, pool_size: int, max_overflow: int
) -> tuple[Callable[..., Any], ...]:
    """Fixtures `context_database`, `app_engine`, `owner_engine` and `engine`: `truncate` is what
    follows TRUNCATE before each test that asks for `engine`; the pool is the app engine's."""

    @pytest.fixture(scope="session")
    def context_database(postgres_server: LocalPostgres) -> LocalDatabase:
        return migrated_database(postgres_server, name)

    @pytest.fixture(scope="session")
    async def app_engine(context_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
        """As the app role, like the service."""
        engine = create_engine(
            context_database.app_url, pool_size=pool_size, max_overflow=max_overflow
        )
        yield engine
        await engine.dispose()

    @pytest.fixture(scope="session")
    async def owner_engine(context_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
        """As the schema owner: what the app role may not do (TRUNCATE, seeding, raw checks)."""
        engine = create_engine(context_database.migrator_url, pool_size=2)
        yield engine
        await engine.dispose()

    @pytest.fixture
    async def engine(app_engine: AsyncEngine, owner_engine: AsyncEngine) -> AsyncEngine:
        """The app's engine over emptied tables."""
        async with owner_engine.begin() as connection:
            await connection.execute(sa.text(f"TRUNCATE {truncate}"))
        return app_engine

    return context_database, app_engine, owner_engine, engine
