"""Request ids carried into outbox events and jobs (issue 12, docs/adr/0033).

Every transaction of the service sets `app.request_id` (transaction-local) beside the caller's
settings, in the same round trip (adapters.postgis.unit_of_work.SET_CALLER). Here the database
copies it where it belongs, whichever path wrote the row (Python, the one-trip plpgsql holds,
the outbox trigger of migration 0009):

- `outbox.request_id` defaults to it;
- a job inserted while it is set gets it as the `request_id` argument (unless it has one), so
  the worker can bind it to the job's logs and error reports, and pass it on to what the job
  writes. procrastinate's own table gets one BEFORE INSERT trigger of ours; nothing of its
  schema is changed.

And for `/health/ready`: `schema_revision()`, the revision the database is at, readable by the
app role (which has no privilege on alembic_version itself: the migrations own it).

Revision ID: 0024_request_ids
Revises: 0023_live_availability
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from adapters.postgis.migrations.helpers import app_role

revision: str = "0024_request_ids"
down_revision: str | None = "0023_live_availability"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "nullif(current_setting('app.request_id', true), '')"

OUTBOX_COLUMN = f"ALTER TABLE outbox ADD COLUMN request_id text DEFAULT {CURRENT}"
JOB_REQUEST_ID = f"""
CREATE FUNCTION job_request_id() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    current text := {CURRENT};
BEGIN
    IF current IS NOT NULL AND NOT NEW.args ? 'request_id' THEN
        NEW.args := NEW.args || jsonb_build_object('request_id', current);
    END IF;
    RETURN NEW;
END
$$
"""
JOB_TRIGGER = """
CREATE TRIGGER job_request_id BEFORE INSERT ON procrastinate_jobs
FOR EACH ROW EXECUTE FUNCTION job_request_id()
"""
SCHEMA_REVISION = """
CREATE FUNCTION schema_revision() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT version_num FROM alembic_version LIMIT 1
$$
"""


def upgrade() -> None:
    op.execute(OUTBOX_COLUMN)
    op.execute(JOB_REQUEST_ID)
    op.execute(JOB_TRIGGER)
    op.execute(SCHEMA_REVISION)
    op.execute("REVOKE ALL ON FUNCTION schema_revision() FROM PUBLIC")
    role = app_role()
    if role is not None:
        op.execute(f"GRANT EXECUTE ON FUNCTION schema_revision() TO {role}")


def downgrade() -> None:
    op.execute("DROP FUNCTION schema_revision()")
    op.execute("DROP TRIGGER job_request_id ON procrastinate_jobs")
    op.execute("DROP FUNCTION job_request_id()")
    op.execute("ALTER TABLE outbox DROP COLUMN request_id")
