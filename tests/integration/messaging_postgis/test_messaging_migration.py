"""Migration 0010: it builds exactly the declared messaging tables, grants the app role only
what the repositories do, secures every table with row-level security, and goes down (and up
again) without a trace."""

from __future__ import annotations

from adapters.postgis import migrate
from adapters.postgis.messaging import tables
from adapters.postgis.metadata import metadata
from devservers.postgres import LocalDatabase, LocalPostgres
from migration_support import below, catalog, declared_catalog, grants, present, query, secured

REVISION = "0010_messaging"
POLICIES = 11
TABLES = set(tables.MESSAGING_TABLES)
READ_WRITE = "INSERT,SELECT,UPDATE"
ERASABLE = "DELETE,INSERT,SELECT,UPDATE"  # erasure deletes a person's rows (migration 0016)
GRANTS = {
    "messages": ERASABLE,
    "contact_preferences": ERASABLE,
    "undeliverable_addresses": ERASABLE,
    "whatsapp_windows": ERASABLE,
    "calendar_chains": READ_WRITE,
    "calendar_uids": READ_WRITE,
    "calendar_feeds": READ_WRITE,
    "provider_reminder_offsets": "DELETE,INSERT,SELECT",
}


def _present(url: str) -> tuple[set[str], int]:
    policies = query(
        url, "SELECT count(*) FROM pg_policies WHERE tablename = ANY(:t)", t=sorted(TABLES)
    )
    return present(url, TABLES), int(str(policies[0][0]))


def test_the_migrated_schema_is_exactly_the_declared_tables(
    new_database: LocalDatabase, postgres_server: LocalPostgres
) -> None:
    assert tables.messages.metadata is metadata
    declared = declared_catalog(postgres_server, TABLES)
    migrate.upgrade(new_database.migrator_url)

    migrated = catalog(new_database.migrator_url, TABLES)

    assert migrated - declared == set()
    assert declared - migrated == set()
    assert len(migrated) > 60


def test_the_app_role_gets_only_what_the_repositories_do(new_database: LocalDatabase) -> None:
    migrate.upgrade(new_database.migrator_url)
    assert grants(new_database.superuser_url, TABLES) == GRANTS
    assert secured(new_database.superuser_url, TABLES) == TABLES


def test_every_reference_column_is_indexed(new_database: LocalDatabase) -> None:
    """Foreign keys and the ids of other contexts' rows lead some index."""
    migrate.upgrade(new_database.migrator_url)
    leading = {
        (str(table), str(column))
        for table, column in query(
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

    migrate.downgrade(url, below(url, REVISION))
    assert _present(url) == (set(), 0)
    assert migrate.current(url) == below(url, REVISION)

    migrate.upgrade(url, REVISION)
    assert _present(url) == (TABLES, POLICIES)
    migrate.upgrade(url)  # and on to the head
