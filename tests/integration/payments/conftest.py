"""Payments integration fixtures: a migrated database of its own on the session's private
PostgreSQL, emptied before each test that asks for it, and the stores the contract runs over."""

from __future__ import annotations

import pytest
from payments_integration_support import (
    PAYMENTS_TABLES,
    STORE_KINDS,
    Store,
    memory_store,
    postgis_store,
)

from postgres_support import migrated_context

# room for a hundred concurrent units of work
context_database, app_engine, owner_engine, engine = migrated_context(
    "reserva_payments", truncate=PAYMENTS_TABLES, pool_size=20, max_overflow=100
)


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return memory_store()
    return postgis_store(request.getfixturevalue("engine"))
