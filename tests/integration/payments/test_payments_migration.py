"""Migration 0006: it builds exactly the declared payments tables, grants the app role only
what the repositories do, and goes down (and up again) without a trace."""

from __future__ import annotations

from adapters.postgis import migrate
from adapters.postgis.metadata import metadata
from adapters.postgis.payments import tables
from devservers.postgres import LocalDatabase, LocalPostgres
from migration_support import (
    CATALOG,
    TRIGGERS,
    below,
    catalog,
    declared_catalog,
    grants,
    present,
    query,
    secured,
)

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
CATALOG_WITH_TRIGGERS = (*CATALOG, TRIGGERS)  # the ledger's constraint triggers among them


def _present(url: str) -> tuple[set[str], set[str]]:
    functions = {str(row[0]) for row in query(url, "SELECT proname FROM pg_proc")}
    return present(url, TABLES), functions & FUNCTIONS


def test_the_migrated_schema_is_exactly_the_declared_tables(
    new_database: LocalDatabase, postgres_server: LocalPostgres
) -> None:
    assert tables.payments.metadata is metadata
    declared = declared_catalog(postgres_server, TABLES, CATALOG_WITH_TRIGGERS)
    migrate.upgrade(new_database.migrator_url)

    migrated = catalog(new_database.migrator_url, TABLES, CATALOG_WITH_TRIGGERS)

    assert migrated - declared == set()
    assert declared - migrated == set()
    assert len(migrated) > 100


def test_the_app_role_gets_only_what_the_repositories_do(new_database: LocalDatabase) -> None:
    migrate.upgrade(new_database.migrator_url)
    assert grants(new_database.superuser_url, TABLES) == GRANTS
    assert secured(new_database.superuser_url, TABLES) == TABLES - {
        "offering_terms"
    }  # terms are public


def test_down_removes_every_trace_and_up_builds_it_again(new_database: LocalDatabase) -> None:
    url = new_database.migrator_url
    migrate.upgrade(url, REVISION)
    assert _present(url) == (TABLES, FUNCTIONS)

    migrate.downgrade(url, below(url, REVISION))
    assert _present(url) == (set(), set())
    assert migrate.current(url) == below(url, REVISION)

    migrate.upgrade(url, REVISION)
    assert _present(url) == (TABLES, FUNCTIONS)
