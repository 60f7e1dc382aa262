"""Migration 0015 (identity's personal fields sealed): it cannot seal (no KEK), so it refuses
to run over accounts or chained client data, changing nothing; sessions' IP addresses and user
agents are dropped; the audit chain written before it still verifies after it."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from adapters.memory.keyring import MemoryKeyring
from adapters.memory.personal import MemoryPersonalData
from adapters.postgis import migrate
from adapters.postgis.database import create_engine
from adapters.postgis.identity import PostgisIdentityUnitOfWork
from core.shared.unit_of_work import MAINTENANCE
from devservers.postgres import LocalDatabase

BEFORE = "0014_person_keys"


def _run(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(sa.text(statement), {"id": uuid.uuid4()})
    finally:
        engine.dispose()


def test_it_refuses_existing_accounts_and_changes_nothing(new_database: LocalDatabase) -> None:
    url = new_database.migrator_url
    migrate.upgrade(url, BEFORE)
    _run(
        url,
        "INSERT INTO users (id, email, email_key, password_hash, created_at)"
        " VALUES (:id, 'Old@example.org', 'old@example.org', 'x', now())",
    )

    with pytest.raises(CommandError, match=r"users holds 1 account.*rm -r \.data"):
        migrate.upgrade(url, "0015_identity_personal")

    assert migrate.current(url) == BEFORE


def test_it_refuses_ip_addresses_in_the_chain(new_database: LocalDatabase) -> None:
    url = new_database.migrator_url
    migrate.upgrade(url, BEFORE)
    _run(
        url,
        "INSERT INTO audit_log (id, at, action, ip, details)"
        " VALUES (:id, now(), 'login.failed', '192.0.2.1', '{}')",
    )

    with pytest.raises(CommandError, match=r"audit_log holds 1 entr.*hash chain"):
        migrate.upgrade(url, "0015_identity_personal")

    assert migrate.current(url) == BEFORE


async def test_the_chain_written_before_still_verifies(new_database: LocalDatabase) -> None:
    url = new_database.migrator_url
    migrate.upgrade(url, BEFORE)
    _run(
        url,
        "INSERT INTO audit_log (id, at, action, details)"
        " VALUES (:id, now(), 'kek.rotated', '{\"n\": 1}')",
    )
    migrate.upgrade(url)
    engine = create_engine(new_database.app_url)
    try:
        uow = PostgisIdentityUnitOfWork(engine, MemoryKeyring(), MemoryPersonalData(), MAINTENANCE)
        async with uow:
            check = await uow.audit.verify_chain()
    finally:
        await engine.dispose()

    assert (check.entries, check.broken) == (1, None)
