"""The job queue (procrastinate) and the outbox trigger that defers a job per event.

procrastinate's own schema, as release 3.10.0 ships it, is installed from a verbatim copy
(adapters/postgis/jobs/schema_3_10.py): this revision means the same schema forever, whatever
procrastinate is installed later. An upgrade of procrastinate that changes its schema comes with
a new revision running the release's migration scripts.

An outbox row's INSERT defers a `dispatch_event {"event_id"}` job on the "events" queue in the
same transaction, through procrastinate's own `procrastinate_defer_jobs_v1`: an event exists
exactly when its job does, and the write path pays one row trigger, no round trip. Events
written before this revision and not delivered yet get their job here.

`job_failures` keeps the last error of each job (procrastinate keeps only its status); an index
finds a booking's waiting reminders (send_reminder jobs by their booking id).

The app role (the API defers, the worker fetches and finishes) gets rows of procrastinate's
tables and its sequences; the functions and types are usable by anyone already (PostgreSQL's
default EXECUTE and USAGE for PUBLIC), as procrastinate expects.

Revision ID: 0009_jobs
Revises: 0008_payments_queues
Create Date: 2026-11-29
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from alembic import op

from adapters.postgis.jobs.schema_3_10 import SCHEMA
from adapters.postgis.migrations.helpers import grant_app_role

revision: str = "0009_jobs"
down_revision: str | None = "0008_payments_queues"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROWS = "SELECT, INSERT, UPDATE, DELETE"
PRIVILEGES = {
    "procrastinate_jobs": ROWS,
    "procrastinate_events": ROWS,
    "procrastinate_periodic_defers": ROWS,
    "procrastinate_workers": ROWS,
    "job_failures": ROWS,
}
SEQUENCES = (
    "procrastinate_jobs_id_seq",
    "procrastinate_events_id_seq",
    "procrastinate_periodic_defers_id_seq",
    "procrastinate_workers_id_seq",
)

JOB_FAILURES = """
CREATE TABLE job_failures (
    job_id bigint PRIMARY KEY REFERENCES procrastinate_jobs (id) ON DELETE CASCADE,
    task_name text NOT NULL,
    attempt integer NOT NULL,
    error text NOT NULL,
    failed_at timestamptz NOT NULL
)
"""
WAITING_REMINDERS = """
CREATE INDEX ix_jobs_waiting_reminders ON procrastinate_jobs ((args->>'booking_id'))
WHERE task_name = 'send_reminder' AND status = 'todo'
"""
# ROW(queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at): the
# procrastinate_job_to_defer_v1 type of 3.10.
DEFER_DISPATCH = """
CREATE FUNCTION outbox_defer_dispatch() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM procrastinate_defer_jobs_v1(ARRAY[ROW(
        'events', 'dispatch_event', 0, NULL, NULL,
        jsonb_build_object('event_id', NEW.id), NULL
    )::procrastinate_job_to_defer_v1]);
    RETURN NULL;
END
$$
"""
DISPATCH_TRIGGER = """
CREATE TRIGGER outbox_defer_dispatch AFTER INSERT ON outbox
FOR EACH ROW EXECUTE FUNCTION outbox_defer_dispatch()
"""
BACKFILL = """
SELECT procrastinate_defer_jobs_v1(coalesce(array_agg(ROW(
    'events', 'dispatch_event', 0, NULL, NULL, jsonb_build_object('event_id', id), NULL
)::procrastinate_job_to_defer_v1 ORDER BY seq), '{}'))
FROM outbox WHERE delivered_at IS NULL
"""


def upgrade() -> None:
    # Straight to psycopg: the schema is many statements, with '%' in its messages.
    op.get_bind().connection.driver_connection.execute(SCHEMA)  # type: ignore[union-attr]
    op.execute(JOB_FAILURES)
    op.execute(WAITING_REMINDERS)
    op.execute(DEFER_DISPATCH)
    op.execute(DISPATCH_TRIGGER)
    op.execute(BACKFILL)
    role = grant_app_role(PRIVILEGES)
    if role is None:
        return
    for sequence in SEQUENCES:
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {sequence} TO {role}")


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_defer_dispatch ON outbox")
    op.execute("DROP FUNCTION outbox_defer_dispatch()")
    op.execute("DROP TABLE job_failures")
    # Everything the schema made, by the names it declares: the tables with their triggers
    # (and the functions returning their row type), then the rest.
    for table in reversed(_declared("TABLE")):
        op.execute(f"DROP TABLE {table} CASCADE")
    for function in _declared("FUNCTION"):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    for type_name in reversed(_declared("TYPE")):
        op.execute(f"DROP TYPE {type_name}")


def _declared(kind: str) -> list[str]:
    return re.findall(rf"^CREATE {kind} (\w+)", SCHEMA, flags=re.MULTILINE)
