"""Migration 0009: procrastinate's 3.10 schema as the package ships it, the app role's
privileges, the outbox trigger, events left undelivered before it, and a downgrade that leaves
no trace."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from importlib.metadata import version

from procrastinate.schema import SchemaManager

from adapters.postgis import migrate
from adapters.postgis.jobs.schema_3_10 import SCHEMA, VERSION
from devservers.postgres import LocalDatabase
from migration_support import query

REVISION = "0009_jobs"
BELOW = "0008_payments_queues"
QUEUE_TABLES = (
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
    "job_failures",
)
# Every object whose name says it is ours or procrastinate's.
_LEFTOVERS = """
    SELECT 'relation', relname FROM pg_class
     WHERE relnamespace = 'public'::regnamespace
       AND (relname LIKE 'procrastinate%' OR relname LIKE 'job_failures%'
            OR relname = 'ix_jobs_waiting_reminders')
    UNION ALL SELECT 'function', proname FROM pg_proc
     WHERE pronamespace = 'public'::regnamespace
       AND (proname LIKE 'procrastinate%' OR proname = 'outbox_defer_dispatch')
    UNION ALL SELECT 'type', typname FROM pg_type
     WHERE typnamespace = 'public'::regnamespace AND typname LIKE '%procrastinate%'
    UNION ALL SELECT 'trigger', tgname FROM pg_trigger WHERE tgname = 'outbox_defer_dispatch'
"""


def test_the_pinned_schema_is_the_one_the_installed_procrastinate_ships() -> None:
    # Fails when procrastinate is upgraded: write a migration running its migration scripts
    # from 3.10.0 on, and pin the new schema beside this one.
    assert version("procrastinate").startswith("3.10.")
    assert VERSION.startswith("3.10.")
    assert SchemaManager.get_schema() == SCHEMA


def test_the_app_role_reads_and_writes_the_queue_and_nothing_more(
    new_database: LocalDatabase,
) -> None:
    migrate.upgrade(new_database.migrator_url, REVISION)
    granted = query(
        new_database.migrator_url,
        "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type)"
        " FROM information_schema.role_table_grants"
        " WHERE grantee = 'reserva_app' AND table_name = ANY(:tables) GROUP BY table_name",
        tables=list(QUEUE_TABLES),
    )
    assert {str(t): str(p) for t, p in granted} == dict.fromkeys(
        QUEUE_TABLES, "DELETE,INSERT,SELECT,UPDATE"
    )
    truncate = query(
        new_database.migrator_url,
        "SELECT bool_or(has_table_privilege('reserva_app', t, 'TRUNCATE'))"
        " FROM unnest(CAST(:t AS text[])) t",
        t=list(QUEUE_TABLES),
    )
    assert truncate == [(False,)]


def test_events_not_delivered_before_the_queue_existed_get_their_job(
    new_database: LocalDatabase,
) -> None:
    migrate.upgrade(new_database.migrator_url, BELOW)
    waiting, delivered = uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 3, 1, tzinfo=UTC)
    query(
        new_database.migrator_url,
        "INSERT INTO outbox (id, name, occurred_at, payload, delivered_at) VALUES"
        " (:waiting, 'x.happened', :at, '{}', NULL), (:delivered, 'x.happened', :at, '{}', :at)",
        waiting=waiting,
        delivered=delivered,
        at=at,
    )

    migrate.upgrade(new_database.migrator_url, REVISION)

    jobs = query(
        new_database.migrator_url,
        "SELECT task_name, queue_name, args, status::text FROM procrastinate_jobs",
    )
    assert jobs == [("dispatch_event", "events", {"event_id": str(waiting)}, "todo")]


def test_the_app_role_defers_through_the_trigger(new_database: LocalDatabase) -> None:
    migrate.upgrade(new_database.migrator_url, REVISION)
    event = uuid.uuid4()
    query(
        new_database.app_url,
        "INSERT INTO outbox (id, name, occurred_at, payload) VALUES (:id, 'x', now(), '{}')",
        id=event,
    )
    assert query(new_database.migrator_url, "SELECT args FROM procrastinate_jobs") == [
        ({"event_id": str(event)},)
    ]


def test_downgrade_removes_every_trace_and_upgrade_comes_back(
    new_database: LocalDatabase,
) -> None:
    migrate.upgrade(new_database.migrator_url, REVISION)
    assert len(query(new_database.migrator_url, _LEFTOVERS)) > 20

    migrate.downgrade(new_database.migrator_url, BELOW)
    assert query(new_database.migrator_url, _LEFTOVERS) == []
    assert migrate.current(new_database.migrator_url) == BELOW

    migrate.upgrade(new_database.migrator_url, REVISION)
    assert migrate.current(new_database.migrator_url) == REVISION
