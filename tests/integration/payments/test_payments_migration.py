"""Migration 0006: it builds exactly the declared payments tables, grants the app role only
what the repositories do, and goes down (and up again) without a trace."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from adapters.postgis import migrate
from adapters.postgis.metadata import metadata
from adapters.postgis.payments import tables
from devservers.postgres import LocalDatabase, LocalPostgres

REVISION = "0006_payments"
TABLES = set(tables.PAYMENTS_TABLES)
FUNCTIONS = {"ledger_balanced", "payment_velocity"}
GRANTS = {
    "payments": "INSERT,SELECT,UPDATE",
    "refunds": "INSERT,SELECT,UPDATE",
    "offering_terms": "INSERT,SELECT",
    "ledger_transactions": "INSERT,SELECT",
    "ledger_entries": "INSERT,SELECT",
    "processor_events": "INSERT,SELECT,UPDATE",
    "provider_accounts": "INSERT,SELECT,UPDATE",
    "processor_customers": "INSERT,SELECT,UPDATE",
}

_CATALOG_QUERIES = (
    """SELECT attrelid::regclass::text, attname, format_type(atttypid, atttypmod),
              attnotnull, attidentity
       FROM pg_attribute
       WHERE attrelid::regclass::text = ANY(:tables) AND attnum > 0 AND NOT attisdropped""",
    # constraints, the ledger's constraint triggers among them
    """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), condeferred
       FROM pg_constraint WHERE conrelid::regclass::text = ANY(:tables)""",
    """SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(:tables)""",
    """SELECT tgrelid::regclass::text, tgname, tgdeferrable, tginitdeferred, tgfoid::regproc::text
       FROM pg_trigger WHERE tgrelid::regclass::text = ANY(:tables) AND NOT tgisinternal""",
)


def _query(url: str, statement: str, **values: object) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(statement), values)]
    finally:
        engine.dispose()


def _catalog(url: str) -> set[tuple[object, ...]]:
    return {
        (n, *row)
        for n, query in enumerate(_CATALOG_QUERIES)
        for row in _query(url, query, tables=sorted(TABLES))
    }


def _below(url: str) -> str:
    down = ScriptDirectory.from_config(migrate.alembic_config(url)).get_revision(REVISION)
    assert down is not None
    assert isinstance(down.down_revision, str)
    return down.down_revision


def _present(url: str) -> tuple[set[str], set[str]]:
    names = {str(row[0]) for row in _query(url, "SELECT tablename FROM pg_tables")}
    functions = {str(row[0]) for row in _query(url, "SELECT proname FROM pg_proc")}
    return names & TABLES, functions & FUNCTIONS


def test_the_migrated_schema_is_exactly_the_declared_tables(
    new_database: LocalDatabase, postgres_server: LocalPostgres
) -> None:
    assert tables.payments.metadata is metadata
    declared_url = postgres_server.create_database(f"declared_{uuid.uuid4().hex[:12]}").migrator_url
    engine = sa.create_engine(declared_url)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn, tables=[metadata.tables[t] for t in TABLES])
    finally:
        engine.dispose()
    migrate.upgrade(new_database.migrator_url)

    migrated, declared = _catalog(new_database.migrator_url), _catalog(declared_url)

    assert migrated - declared == set()
    assert declared - migrated == set()
    assert len(migrated) > 100


def test_the_app_role_gets_only_what_the_repositories_do(new_database: LocalDatabase) -> None:
    migrate.upgrade(new_database.migrator_url)
    granted = _query(
        new_database.superuser_url,
        "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type)"
        " FROM information_schema.role_table_grants WHERE grantee = :role"
        " AND table_name = ANY(:tables) GROUP BY table_name",
        role=migrate.APP_ROLE,
        tables=sorted(TABLES),
    )
    secured = _query(
        new_database.superuser_url,
        "SELECT relname FROM pg_class WHERE relrowsecurity AND relname = ANY(:tables)",
        tables=sorted(TABLES),
    )

    assert dict(granted) == GRANTS
    assert {row[0] for row in secured} == TABLES - {"offering_terms"}  # terms are public


def test_down_removes_every_trace_and_up_builds_it_again(new_database: LocalDatabase) -> None:
    url = new_database.migrator_url
    migrate.upgrade(url, REVISION)
    assert _present(url) == (TABLES, FUNCTIONS)

    migrate.downgrade(url, _below(url))
    assert _present(url) == (set(), set())
    assert migrate.current(url) == _below(url)

    migrate.upgrade(url, REVISION)
    assert _present(url) == (TABLES, FUNCTIONS)
