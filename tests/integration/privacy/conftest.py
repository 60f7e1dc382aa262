"""Privacy integration fixtures: a migrated database of its own, engines as the app role and
the owner, emptied before each test that asks for `engine` (and by `empty_database`, e.g.
before each Hypothesis example)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from postgres_support import migrated_context

# Every table a privacy test writes, every context's: the erasure properties seed them all.
PRIVACY_TABLES = (
    "person_keys, privacy_lookup_keys, privacy_exports, erasure_requests, consent_entries,"
    " users, auth_sessions, refresh_tokens, one_time_tokens, signing_keys, audit_log,"
    " audit_log_clients, outbox, messages, contact_preferences, undeliverable_addresses,"
    " whatsapp_windows, payments, refunds, ledger_entries, ledger_transactions, bookings,"
    " offerings, resources, places, providers, procrastinate_jobs, job_failures CASCADE"
)

context_database, app_engine, owner_engine, engine = migrated_context(
    "reserva_privacy", truncate=PRIVACY_TABLES, pool_size=20, max_overflow=20
)


@pytest.fixture
def empty_database(owner_engine: AsyncEngine) -> Callable[[], Awaitable[None]]:
    """Empties what `engine` empties, on demand."""

    async def empty() -> None:
        async with owner_engine.begin() as connection:
            await connection.execute(sa.text(f"TRUNCATE {PRIVACY_TABLES}"))

    return empty
