"""Migration 0013: the declared `provider_reminder_plans` table exactly, readable by everyone
and written only by staff (row-level security), providers that already had offsets marked as
having chosen them, and down and up again without a trace."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from adapters.postgis import migrate
from adapters.postgis.messaging import tables
from adapters.postgis.metadata import metadata
from devservers.postgres import LocalDatabase, LocalPostgres

REVISION = "0013_reminder_plans"
TABLES = sorted(tables.REMINDER_PLAN_TABLES)
CATALOG = (
    """SELECT attrelid::regclass::text, attname, format_type(atttypid, atttypmod), attnotnull
       FROM pg_attribute
       WHERE attrelid::regclass::text = ANY(:tables) AND attnum > 0 AND NOT attisdropped""",
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
    " FROM pg_constraint WHERE conrelid::regclass::text = ANY(:tables)",
    "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(:tables)",
)


def _query(url: str, statement: str, **values: object) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(sa.text(statement), values)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _catalog(url: str) -> set[tuple[object, ...]]:
    return {(n, *row) for n, q in enumerate(CATALOG) for row in _query(url, q, tables=TABLES)}


def test_the_migrated_table_is_the_declared_one_secured_and_granted(
    new_database: LocalDatabase, postgres_server: LocalPostgres
) -> None:
    declared_url = postgres_server.create_database(f"declared_{uuid.uuid4().hex[:12]}").migrator_url
    engine = sa.create_engine(declared_url)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn, tables=[metadata.tables[t] for t in TABLES])
    finally:
        engine.dispose()
    migrate.upgrade(new_database.migrator_url)
    granted = _query(
        new_database.superuser_url,
        "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type)"
        " FROM information_schema.role_table_grants WHERE grantee = :role"
        " AND table_name = 'provider_reminder_plans'",
        role=migrate.APP_ROLE,
    )
    policies = _query(
        new_database.superuser_url,
        "SELECT count(*) FROM pg_policies WHERE tablename = 'provider_reminder_plans'",
    )
    secured = _query(
        new_database.superuser_url,
        "SELECT relrowsecurity FROM pg_class WHERE relname = 'provider_reminder_plans'",
    )

    assert _catalog(new_database.migrator_url) == _catalog(declared_url)
    assert granted == [("INSERT,SELECT,UPDATE",)]
    assert policies == [(3,)]
    assert secured == [(True,)]


def test_providers_with_offsets_are_marked_and_down_up_leaves_no_trace(
    new_database: LocalDatabase,
) -> None:
    url = new_database.migrator_url
    migrate.upgrade(url, "0012_integrations")
    provider = uuid.uuid4()
    _query(
        url,
        "INSERT INTO provider_reminder_offsets VALUES (:p, 30), (:p, 600)",
        p=provider,
    )
    migrate.upgrade(url, REVISION)
    marked = _query(url, "SELECT provider_id FROM provider_reminder_plans")
    assert marked == [(provider,)]

    migrate.downgrade(url, "0012_integrations")
    gone = _query(url, "SELECT to_regclass('provider_reminder_plans')")
    assert gone == [(None,)]
    migrate.upgrade(url)
    assert migrate.current(url) == REVISION
