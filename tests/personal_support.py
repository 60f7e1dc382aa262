"""Per-person sealing for store tests over PostgreSQL (issue 10): the real AES-GCM
`PersonalData` over the database's key vault, its key-encryption key a memory keyring.

Tests that build one per test also empty `PERSONAL_TABLES` per test (a fresh memory keyring
cannot open the keys an earlier test's wrapped)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.keyring import MemoryKeyring
from adapters.postgis.personal import PostgisPersonKeyVault
from adapters.security.personal import AesGcmPersonalData
from core.shared.personal import PersonalData

PERSONAL_TABLES = "person_keys, privacy_lookup_keys"


def postgis_personal(engine: AsyncEngine) -> PersonalData:
    return AesGcmPersonalData(PostgisPersonKeyVault(engine), MemoryKeyring())
