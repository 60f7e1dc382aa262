"""What the migration tests of every context ask PostgreSQL: the catalog of some tables (to
compare a migrated schema with the declared one), the app role's grants, row-level security,
and the revision below another. Imported by bare name, like `messaging_fake_support`."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from adapters.postgis import migrate
from adapters.postgis.metadata import metadata
from devservers.postgres import LocalPostgres

COLUMNS = """SELECT attrelid::regclass::text, attname, format_type(atttypid, atttypmod),
              attnotnull, attidentity
       FROM pg_attribute
       WHERE attrelid::regclass::text = ANY(:tables) AND attnum > 0 AND NOT attisdropped"""
# primary, foreign, unique, check and exclusion constraints, by name, definition and deferral
CONSTRAINTS = """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid),
              condeferrable, condeferred
       FROM pg_constraint WHERE conrelid::regclass::text = ANY(:tables)"""
INDEXES = "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(:tables)"
TRIGGERS = """SELECT tgrelid::regclass::text, tgname, tgdeferrable, tginitdeferred,
              tgfoid::regproc::text
       FROM pg_trigger WHERE tgrelid::regclass::text = ANY(:tables) AND NOT tgisinternal"""
CATALOG = (COLUMNS, CONSTRAINTS, INDEXES)


def query(url: str, statement: str, **values: object) -> list[tuple[object, ...]]:
    """Run one statement in a transaction of its own; its rows, if it returns any."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(sa.text(statement), values)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def catalog(
    url: str, tables: Collection[str], queries: Sequence[str] = CATALOG
) -> set[tuple[object, ...]]:
    """What PostgreSQL itself says about `tables`: a row per column, constraint, index, ..."""
    return {
        (n, *row)
        for n, statement in enumerate(queries)
        for row in query(url, statement, tables=sorted(tables))
    }


def declared_catalog(
    postgres_server: LocalPostgres, tables: Collection[str], queries: Sequence[str] = CATALOG
) -> set[tuple[object, ...]]:
    """The catalog of `tables` as the adapter declares them, created in a database of their own."""
    url = postgres_server.create_database(f"declared_{uuid.uuid4().hex[:12]}").migrator_url
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn, tables=[metadata.tables[t] for t in tables])
    finally:
        engine.dispose()
    return catalog(url, tables, queries)


def grants(superuser_url: str, tables: Collection[str]) -> dict[str, str]:
    """The app role's privileges on each of `tables` it has any on, sorted and comma-joined."""
    granted = query(
        superuser_url,
        "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type)"
        " FROM information_schema.role_table_grants WHERE grantee = :role"
        " AND table_name = ANY(:tables) GROUP BY table_name",
        role=migrate.APP_ROLE,
        tables=sorted(tables),
    )
    return {str(table): str(privileges) for table, privileges in granted}


def secured(url: str, tables: Collection[str]) -> set[str]:
    """Those of `tables` with row-level security on."""
    rows = query(
        url,
        "SELECT relname FROM pg_class WHERE relrowsecurity AND relname = ANY(:tables)",
        tables=sorted(tables),
    )
    return {str(row[0]) for row in rows}


def present(url: str, tables: Collection[str]) -> set[str]:
    """Those of `tables` that exist."""
    return {str(row[0]) for row in query(url, "SELECT tablename FROM pg_tables")} & set(tables)


def below(url: str, revision: str) -> str:
    """The revision `revision` goes down to."""
    down = ScriptDirectory.from_config(migrate.alembic_config(url)).get_revision(revision)
    assert down is not None
    assert isinstance(down.down_revision, str)
    return down.down_revision
