"""Migration 0010: it builds exactly the declared messaging tables, grants the app role only
what the repositories do, secures every table with row-level security, and goes down (and up
again) without a trace."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from adapters.postgis import migrate
from adapters.postgis.messaging import tables
from adapters.postgis.metadata import metadata
from devservers.postgres import LocalDatabase, LocalPostgres

REVISION = "0010_messaging"
POLICIES = 11
TABLES = set(tables.MESSAGING_TABLES)
READ_WRITE = "INSERT,SELECT,UPDATE"
GRANTS = {
    "messages": READ_WRITE,
    "contact_preferences": READ_WRITE,
    "undeliverable_addresses": READ_WRITE,
    "whatsapp_windows": READ_WRITE,
    "calendar_chains": READ_WRITE,
    "calendar_uids": READ_WRITE,
    "calendar_feeds": READ_WRITE,
    "provider_reminder_offsets": "DELETE,INSERT,SELECT",
}

_CATALOG_QUERIES = (
    """SELECT attrelid::regclass::text, attname, format_type(atttypid, atttypmod),
              attnotnull, attidentity
       FROM pg_attribute
       WHERE attrelid::regclass::text = ANY(:tables) AND attnum > 0 AND NOT attisdropped""",
    """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), condeferrable,
              condeferred
       FROM pg_constraint WHERE conrelid::regclass::text = ANY(:tables)""",
    """SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(:tables)""",
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


def _present(url: str) -> tuple[set[str], int]:
    names = {str(row[0]) for row in _query(url, "SELECT tablename FROM pg_tables")}
    policies = _query(
        url, "SELECT count(*) FROM pg_policies WHERE tablename = ANY(:t)", t=sorted(TABLES)
    )
    return names & TABLES, int(str(policies[0][0]))


def test_the_migrated_schema_is_exactly_the_declared_tables(
    new_database: LocalDatabase, postgres_server: LocalPostgres
) -> None:
    assert tables.messages.metadata is metadata
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
    assert len(migrated) > 60


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

    assert {str(table): str(privileges) for table, privileges in granted} == GRANTS
    assert {row[0] for row in secured} == TABLES


def test_every_reference_column_is_indexed(new_database: LocalDatabase) -> None:
    """Foreign keys and the ids of other contexts' rows lead some index."""
    migrate.upgrade(new_database.migrator_url)
    leading = {
        (str(table), str(column))
        for table, column in _query(
            new_database.migrator_url,
            "SELECT i.indrelid::regclass::text, a.attname FROM pg_index i"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
            " WHERE i.indrelid::regclass::text = ANY(:tables)",
            tables=sorted(TABLES),
        )
    }
    references = {
        ("messages", "recipient_id"),
        ("messages", "provider_id"),
        ("messages", "booking_id"),
        ("messages", "event_id"),
        ("messages", "status"),
        ("messages", "provider_message_id"),
        ("messages", "dedupe_key"),
        ("calendar_uids", "uid"),
        ("calendar_uids", "booking_id"),
        ("calendar_feeds", "token_digest"),
        ("contact_preferences", "user_id"),
        ("provider_reminder_offsets", "provider_id"),
    }

    assert references - leading == set()


def test_down_removes_every_trace_and_up_builds_it_again(new_database: LocalDatabase) -> None:
    url = new_database.migrator_url
    migrate.upgrade(url, REVISION)
    assert _present(url) == (TABLES, POLICIES)

    migrate.downgrade(url, _below(url))
    assert _present(url) == (set(), 0)
    assert migrate.current(url) == _below(url)

    migrate.upgrade(url, REVISION)
    assert _present(url) == (TABLES, POLICIES)
    migrate.upgrade(url)  # and on to the head
