"""Consent integration fixtures: a migrated database of its own, engines as the app role and
the owner, emptied before each test that asks for `engine`; and the store under test, the
memory fake or PostGIS (the contract suite runs on both)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.consent import MemoryConsentDatabase
from adapters.postgis.consent import PostgisConsentUnitOfWork
from postgres_support import migrated_context

context_database, app_engine, owner_engine, engine = migrated_context(
    "reserva_consent",
    truncate="consent_entries, policy_versions",
    pool_size=20,
    max_overflow=0,
)


@pytest.fixture(params=["memory", "postgis"])
def store(request: pytest.FixtureRequest) -> Any:
    """A unit-of-work factory of either store."""
    if request.param == "memory":
        return MemoryConsentDatabase()
    database_engine: AsyncEngine = request.getfixturevalue("engine")
    return PostgisConsentUnitOfWork.factory(database_engine)
