"""Helpers shared by the identity integration tests (fixtures live in conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.identity import MemoryIdentityStore
from adapters.postgis.identity import PostgisIdentityUnitOfWork
from core.identity.ports import IdentityUnitOfWork
from core.shared.keyring import Keyring
from core.shared.personal import PersonalData
from core.shared.unit_of_work import UnitOfWorkFactory
from identity_wiring import personal_data

START = datetime(2026, 3, 2, 10, 0, 3, tzinfo=UTC)
IDENTITY_TABLES = (
    "audit_log",
    "signing_keys",
    "recovery_codes",
    "totp_credentials",
    "refresh_tokens",
    "auth_sessions",
    "one_time_tokens",
    "user_staff_roles",
    "users",
    "audit_log_clients",
    "outbox",
)


@attrs.frozen
class Store:
    """A unit-of-work factory and a way to read what reached the outbox, per adapter."""

    name: str
    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    outbox_ids: Callable[[], Awaitable[set[uuid.UUID]]]


def memory_store() -> Store:
    store = MemoryIdentityStore()

    async def outbox_ids() -> set[uuid.UUID]:
        return {event.id for event in store.state.outbox}

    return Store("memory", store.uow, outbox_ids)


def postgis_store(
    engine: AsyncEngine, keyring: Keyring, personal: PersonalData | None = None
) -> Store:
    personal = personal or personal_data(engine, keyring)

    async def outbox_ids() -> set[uuid.UUID]:
        async with engine.connect() as connection:
            return set((await connection.execute(sa.text("SELECT id FROM outbox"))).scalars())

    return Store(
        "postgis", PostgisIdentityUnitOfWork.factory(engine, keyring, personal), outbox_ids
    )
