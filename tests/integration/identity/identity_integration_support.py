"""Helpers shared by the identity integration tests (fixtures live in conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.memory.identity import MemoryIdentityStore
from adapters.memory.security_fakes import MemoryThrottle
from adapters.postgis.identity import PostgisIdentityUnitOfWork
from adapters.postgis.personal import PostgisPersonKeyVault
from adapters.postgis.sealed import PostgisSealedSecrets
from adapters.security.access_tokens import Ed25519SigningKeyFactory, PyJwtAccessTokenCodec
from adapters.security.breached import BundledBreachedPasswords
from adapters.security.keyring import AesGcmKeyring
from adapters.security.passwords import Argon2Params, Argon2PasswordHasher
from adapters.security.personal import AesGcmPersonalData
from adapters.security.qr import SegnoQrRenderer
from adapters.security.sealing import AesGcmTokenSealer
from adapters.security.totp import PyotpTotpGenerator
from core.identity.ports import IdentityUnitOfWork
from core.identity.settings import IdentitySettings
from core.shared.keyring import Keyring
from core.shared.personal import PersonalData
from core.shared.unit_of_work import UnitOfWorkFactory
from identity_wiring import IdentityPorts

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


def personal_data(engine: AsyncEngine, keyring: Keyring) -> AesGcmPersonalData:
    """Per-person sealing as the service does it: keys in the database, wrapped by `keyring`."""
    return AesGcmPersonalData(PostgisPersonKeyVault(engine), keyring)


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


def real_deps(
    engine: AsyncEngine,
    keyring: AesGcmKeyring,
    clock: FixedClock,
    settings: IdentitySettings | None = None,
    personal: PersonalData | None = None,
) -> IdentityPorts:
    """The production adapters (Argon2 kept cheap) over PostgreSQL, sealing with `keyring`."""
    return IdentityPorts(
        uow=PostgisIdentityUnitOfWork.factory(
            engine, keyring, personal or personal_data(engine, keyring)
        ),
        clock=clock,
        settings=settings or IdentitySettings(),
        passwords=Argon2PasswordHasher(Argon2Params(memory_cost_kib=1024, time_cost=1)),
        breached=BundledBreachedPasswords(),
        codec=PyJwtAccessTokenCodec(),
        key_factory=Ed25519SigningKeyFactory(),
        sealer=AesGcmTokenSealer(),
        totp=PyotpTotpGenerator(),
        qr=SegnoQrRenderer(),
        throttle=MemoryThrottle(clock),
        request_throttle=MemoryThrottle(clock),
        keyring=keyring,
        key_store=keyring.store,
        sealed_secrets=PostgisSealedSecrets(engine, keyring),
    )
