"""Per-person sealing for store tests over PostgreSQL (issue 10): the real AES-GCM
`PersonalData` over the database's key vault, its key-encryption key a memory keyring.

Tests that build one per test also empty `PERSONAL_TABLES` per test (a fresh memory keyring
cannot open the keys an earlier test's wrapped).

`insert_user` seeds a user with raw SQL the way the identity adapter stores one (issue 10): the
address sealed under the user's own key and its lookup hash, never the address in clear."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.memory.keyring import MemoryKeyring
from adapters.postgis.identity.personal import EMAIL, email_hash
from adapters.postgis.personal import PostgisPersonKeyVault
from adapters.security.personal import AesGcmPersonalData
from core.identity.model import Email
from core.shared.personal import PersonalData

PERSONAL_TABLES = "person_keys, privacy_lookup_keys"

_INSERT_USER = sa.text(
    "INSERT INTO users (id, email_sealed, email_hash, password_hash, created_at,"
    " email_verified_at) VALUES (:id, :sealed, :hash, 'x', :created, :verified)"
)


def postgis_personal(engine: AsyncEngine) -> PersonalData:
    return AesGcmPersonalData(PostgisPersonKeyVault(engine), MemoryKeyring())


async def insert_user(
    connection_or_engine: AsyncConnection | AsyncEngine,
    personal: PersonalData,
    user_id: uuid.UUID,
    email: str,
    *,
    verified_at: datetime | None = None,
    created_at: datetime | None = None,
) -> None:
    """A users row for `email` as typed, sealed and hashed with `personal` (the one the code
    under test opens it with) as `PostgisUserRepository` writes it; its password hash a dummy.
    Given an engine, the row commits in a transaction of its own."""
    values = {
        "id": user_id,
        "sealed": await personal.seal(user_id, email, field=EMAIL),
        "hash": await email_hash(personal, Email.key_of(email)),
        "created": created_at or datetime.now(UTC),
        "verified": verified_at,
    }
    if isinstance(connection_or_engine, AsyncEngine):
        async with connection_or_engine.begin() as connection:
            await connection.execute(_INSERT_USER, values)
    else:
        await connection_or_engine.execute(_INSERT_USER, values)
