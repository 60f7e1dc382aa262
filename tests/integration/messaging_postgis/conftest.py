"""Messaging store fixtures: a migrated database of its own on the session's private PostgreSQL,
emptied before each test that asks for it, and the stores the contract runs over."""

from __future__ import annotations

import pytest
from messaging_postgis_support import STORE_KINDS, TRUNCATED, Store, memory_store, postgis_store

from postgres_support import migrated_context

# room for many concurrent units of work
context_database, app_engine, owner_engine, engine = migrated_context(
    "reserva_messaging", truncate=f"{TRUNCATED} CASCADE", pool_size=20, max_overflow=60
)


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return memory_store()
    return postgis_store(request.getfixturevalue("engine"))
