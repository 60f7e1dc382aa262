"""Alembic migrations: every step goes up, down and up again on an empty database, and the
migrated schema is exactly what the adapter's tables declare."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from adapters.postgis import migrate
from adapters.postgis.bookings import tables
from adapters.postgis.metadata import metadata
from devservers.postgres import LocalDatabase, LocalPostgres

BOOKINGS_TABLES = {
    "outbox",
    "providers",
    "places",
    "opening_hours",
    "opening_exceptions",
    "opening_exception_intervals",
    "resources",
    "offerings",
    "offering_resources",
    "occurrences",
    "bookings",
}


def _revisions_base_to_head(url: str) -> list[tuple[str, str]]:
    """(revision, the revision below it or "base"), oldest first."""
    script = ScriptDirectory.from_config(migrate.alembic_config(url))
    steps = []
    for revision in script.walk_revisions("base", "heads"):
        down = revision.down_revision
        assert down is None or isinstance(down, str), "the history is linear"
        steps.append((revision.revision, down or "base"))
    return list(reversed(steps))


def _table_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names()) - {"spatial_ref_sys"}
    finally:
        engine.dispose()


def test_the_history_starts_with_the_bookings_revision(new_database: LocalDatabase) -> None:
    assert _revisions_base_to_head(new_database.migrator_url)[0] == ("0001_bookings", "base")


def test_an_empty_database_has_no_revision(new_database: LocalDatabase) -> None:
    assert migrate.current(new_database.migrator_url) is None


def test_stairway_each_revision_upgrades_downgrades_and_upgrades_again(
    new_database: LocalDatabase,
) -> None:
    for revision, below in _revisions_base_to_head(new_database.migrator_url):
        migrate.upgrade(new_database.migrator_url, revision)
        migrate.downgrade(new_database.migrator_url, below)
        assert migrate.current(new_database.migrator_url) == (None if below == "base" else below)
        migrate.upgrade(new_database.migrator_url, revision)
        assert migrate.current(new_database.migrator_url) == revision


def test_head_then_base_then_head_again(new_database: LocalDatabase) -> None:
    head = _revisions_base_to_head(new_database.migrator_url)[-1][0]

    migrate.upgrade(new_database.migrator_url)
    assert _table_names(new_database.migrator_url) >= BOOKINGS_TABLES
    migrate.downgrade(new_database.migrator_url, "base")
    assert _table_names(new_database.migrator_url) == {"alembic_version"}
    migrate.upgrade(new_database.migrator_url)

    assert migrate.current(new_database.migrator_url) == head
    assert _table_names(new_database.migrator_url) >= BOOKINGS_TABLES


_CATALOG_QUERIES = (
    # columns: type with modifiers, nullability, identity
    """SELECT attrelid::regclass::text, attname, format_type(atttypid, atttypmod),
              attnotnull, attidentity
       FROM pg_attribute
       WHERE attrelid::regclass::text = ANY(:tables) AND attnum > 0 AND NOT attisdropped""",
    # constraints: primary, foreign, unique, check and exclusion, by name and definition
    """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
       FROM pg_constraint WHERE conrelid::regclass::text = ANY(:tables)""",
    """SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(:tables)""",
)


def _catalog(url: str) -> set[tuple[object, ...]]:
    """What PostgreSQL itself says about the bookings tables."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                (n, *row)
                for n, query in enumerate(_CATALOG_QUERIES)
                for row in conn.execute(sa.text(query), {"tables": sorted(BOOKINGS_TABLES)})
            }
    finally:
        engine.dispose()


def test_the_migrated_schema_is_exactly_the_declared_tables(
    new_database: LocalDatabase, postgres_server: LocalPostgres
) -> None:
    assert tables.bookings.metadata is metadata
    declared_url = postgres_server.create_database(f"declared_{uuid.uuid4().hex[:12]}").migrator_url
    engine = sa.create_engine(declared_url)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn, tables=[metadata.tables[t] for t in BOOKINGS_TABLES])
    finally:
        engine.dispose()
    migrate.upgrade(new_database.migrator_url)

    migrated, declared = _catalog(new_database.migrator_url), _catalog(declared_url)

    assert migrated - declared == set()
    assert declared - migrated == set()
    assert len(migrated) > 100


def test_downgrading_to_base_keeps_the_extensions(new_database: LocalDatabase) -> None:
    migrate.upgrade(new_database.migrator_url, "0001_bookings")
    migrate.downgrade(new_database.migrator_url, "base")

    engine = sa.create_engine(new_database.migrator_url)
    try:
        with engine.connect() as conn:
            installed = set(conn.execute(sa.text("SELECT extname FROM pg_extension")).scalars())
    finally:
        engine.dispose()
    assert {"postgis", "btree_gist"} <= installed
