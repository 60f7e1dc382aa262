"""Privacy integration fixtures: a migrated database of its own, engines as the app role and
the owner, emptied before each test that asks for `engine`."""

from __future__ import annotations

from postgres_support import migrated_context

PRIVACY_TABLES = "person_keys, privacy_lookup_keys"

context_database, app_engine, owner_engine, engine = migrated_context(
    "reserva_privacy", truncate=PRIVACY_TABLES, pool_size=20, max_overflow=20
)
