"""Job queue fixtures: a migrated database of its own on the session's private PostgreSQL, the
app role's engine (as the API and the worker connect), the owner's for raw checks, and a
production container over it for the worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis import migrate
from adapters.postgis.database import create_engine
from devservers.postgres import LocalDatabase, LocalPostgres
from entrypoints.container import Container, build_container
from entrypoints.settings import Settings

# A table the test handlers write their effect to: one row per key, whatever the runs.
EFFECTS = """
CREATE TABLE IF NOT EXISTS test_job_effects (
    key text PRIMARY KEY,
    done_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS test_job_runs (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key text NOT NULL,
    attempt int NOT NULL
);
GRANT SELECT, INSERT ON test_job_effects, test_job_runs TO reserva_app;
"""


@pytest.fixture(scope="session")
def jobs_database(postgres_server: LocalPostgres) -> LocalDatabase:
    database = postgres_server.create_database("reserva_jobs")
    migrate.upgrade(database.migrator_url)
    engine = sa.create_engine(database.migrator_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(EFFECTS)
    finally:
        engine.dispose()
    return database


@pytest.fixture(scope="session")
async def app_engine(jobs_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(jobs_database.app_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def owner_engine(jobs_database: LocalDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(jobs_database.migrator_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def engine(app_engine: AsyncEngine, owner_engine: AsyncEngine) -> AsyncEngine:
    """The app role's engine over an empty queue."""
    async with owner_engine.begin() as connection:
        await connection.execute(
            sa.text(
                "TRUNCATE procrastinate_jobs, procrastinate_workers, outbox,"
                " test_job_effects, test_job_runs CASCADE"
            )
        )
    return app_engine


@pytest.fixture
def settings(jobs_database: LocalDatabase, kek_file: Path) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": jobs_database.app_url,
            "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing here connects to it
            "KEK_FILE": str(kek_file),
        }
    )


@pytest.fixture
async def container(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Container]:
    built = build_container(settings)
    yield built
    await built.close()
