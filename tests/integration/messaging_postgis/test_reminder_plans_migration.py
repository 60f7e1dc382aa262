"""Migration 0013: the declared `provider_reminder_plans` table exactly, readable by everyone
and written only by staff (row-level security), providers that already had offsets marked as
having chosen them, and down and up again without a trace."""

from __future__ import annotations

import uuid

from adapters.postgis import migrate
from adapters.postgis.messaging import tables
from devservers.postgres import LocalDatabase, LocalPostgres
from migration_support import catalog, declared_catalog, grants, query, secured

REVISION = "0013_reminder_plans"
TABLES = sorted(tables.REMINDER_PLAN_TABLES)
TABLE = "provider_reminder_plans"


def test_the_migrated_table_is_the_declared_one_secured_and_granted(
    new_database: LocalDatabase, postgres_server: LocalPostgres
) -> None:
    declared = declared_catalog(postgres_server, TABLES)
    migrate.upgrade(new_database.migrator_url)
    policies = query(
        new_database.superuser_url,
        "SELECT count(*) FROM pg_policies WHERE tablename = 'provider_reminder_plans'",
    )

    assert catalog(new_database.migrator_url, TABLES) == declared
    assert grants(new_database.superuser_url, TABLES) == {TABLE: "INSERT,SELECT,UPDATE"}
    assert policies == [(3,)]
    assert secured(new_database.superuser_url, TABLES) == {TABLE}


def test_providers_with_offsets_are_marked_and_down_up_leaves_no_trace(
    new_database: LocalDatabase,
) -> None:
    url = new_database.migrator_url
    migrate.upgrade(url, "0012_integrations")
    provider = uuid.uuid4()
    query(
        url,
        "INSERT INTO provider_reminder_offsets VALUES (:p, 30), (:p, 600)",
        p=provider,
    )
    migrate.upgrade(url, REVISION)
    marked = query(url, "SELECT provider_id FROM provider_reminder_plans")
    assert marked == [(provider,)]

    migrate.downgrade(url, "0012_integrations")
    gone = query(url, "SELECT to_regclass('provider_reminder_plans')")
    assert gone == [(None,)]
    migrate.upgrade(url, REVISION)
    assert migrate.current(url) == REVISION
    migrate.upgrade(url)  # and on to the head
