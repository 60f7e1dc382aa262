"""Integrations fixtures: a database migrated to head (job queue included) on the session's
private PostgreSQL, emptied before each test that asks for it, and the stores the contract
runs over."""

from __future__ import annotations

import pytest
from integrations_pg_support import STORE_KINDS, TABLES, Store, memory_store, postgis_store

from postgres_support import migrated_context

# the job queue is emptied too
context_database, app_engine, owner_engine, engine = migrated_context(
    "reserva_integrations",
    truncate=f"{TABLES}, procrastinate_jobs CASCADE",
    pool_size=5,
    max_overflow=10,
)


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return memory_store()
    return postgis_store(request.getfixturevalue("engine"), request.getfixturevalue("owner_engine"))
