"""What only the PostGIS store has: migration 0017 builds exactly the declared tables with the
app role's append-only grants; row-level security shows a user's entries to that user and an
anonymous browser's to whoever presents its id; the records export and keep the ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.postgis import migrate
from adapters.postgis.consent import PostgisConsentRecords, PostgisConsentUnitOfWork
from adapters.postgis.consent.tables import CONSENT_TABLES
from core.consent import (
    Channel,
    CookieCategory,
    GrantConsent,
    PolicyKind,
    PublishPolicy,
    Purpose,
    RecordCookieChoices,
)
from core.shared.ids import UserId
from core.shared.principal import Principal, Role
from devservers.postgres import LocalDatabase, LocalPostgres
from migration_support import below, catalog, declared_catalog, grants, secured

REVISION = "0017_consent"
NOW = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
ADMIN = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)


def test_the_migrated_schema_is_exactly_the_declared_tables(
    new_database: LocalDatabase, postgres_server: LocalPostgres
) -> None:
    declared = declared_catalog(postgres_server, CONSENT_TABLES)
    migrate.upgrade(new_database.migrator_url)
    migrated = catalog(new_database.migrator_url, CONSENT_TABLES)
    assert migrated - declared == set()
    assert declared - migrated == set()


def test_append_only_grants_row_level_security_and_a_clean_downgrade(
    new_database: LocalDatabase,
) -> None:
    url = new_database.migrator_url
    migrate.upgrade(url, REVISION)
    assert grants(new_database.superuser_url, CONSENT_TABLES) == {
        "consent_entries": "INSERT,SELECT",
        "policy_versions": "INSERT,SELECT",
    }
    assert secured(url, CONSENT_TABLES) == {"consent_entries"}
    migrate.downgrade(url, below(url, REVISION))


async def _world(engine: AsyncEngine) -> tuple[Principal, str]:
    ports = {"uow": PostgisConsentUnitOfWork.factory(engine), "clock": FixedClock(NOW)}
    for kind in PolicyKind:
        await PublishPolicy(**ports)(ADMIN, kind, "text", requires_fresh_consent=False)
    ana = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))
    await GrantConsent(**ports)(ana, Purpose.MARKETING, Channel.EMAIL)
    choices = await RecordCookieChoices(**ports)(None, {CookieCategory.ANALYTICS: True})
    return ana, choices.unwrap().anonymous_id


async def _visible(engine: AsyncEngine, **settings: str) -> int:
    async with engine.connect() as connection:
        for name, value in settings.items():
            await connection.execute(
                sa.text("SELECT set_config(:n, :v, true)"), {"n": f"app.{name}", "v": value}
            )
        count = await connection.execute(sa.text("SELECT count(*) FROM consent_entries"))
        return int(count.scalar_one())


async def test_row_level_security_by_user_and_by_anonymous_id(engine: AsyncEngine) -> None:
    ana, browser = await _world(engine)
    assert await _visible(engine) == 0
    assert await _visible(engine, user_id=str(ana.user_id)) == 1
    assert await _visible(engine, user_id=str(uuid.uuid4())) == 0
    assert await _visible(engine, key=browser) == 1
    assert await _visible(engine, key="anon_" + "x" * 32) == 0
    assert await _visible(engine, all_rows="on") == 2


async def test_the_app_role_cannot_change_or_delete_entries(engine: AsyncEngine) -> None:
    await _world(engine)
    for statement in (
        "UPDATE consent_entries SET decision = 'withdrawn'",
        "DELETE FROM consent_entries",
        "TRUNCATE consent_entries",
    ):
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT set_config('app.all_rows', 'on', true)"))
            with pytest.raises(DBAPIError, match="permission denied"):
                await connection.execute(sa.text(statement))


async def test_records_export_the_history_and_erasure_keeps_it(engine: AsyncEngine) -> None:
    ana, _ = await _world(engine)
    records = PostgisConsentRecords(engine)
    assert records.section == "consents"
    exported = await records.export(ana.user_id)
    assert isinstance(exported, list)
    assert len(exported) == 1
    assert exported[0] == exported[0] | {
        "purpose": "marketing",
        "channel": "email",
        "decision": "granted",
        "policy_kind": "privacy",
        "policy_version": 1,
        "method": "api",
        "at": NOW.isoformat(),
    }
    await records.erase(ana.user_id)
    await records.erase(ana.user_id)
    assert await records.export(ana.user_id) == exported
