"""Retention of personal data (issue 10; docs/adr/0028-retention.md).

The periodic `enforce_retention` job removes what is past its period (core.consent.retention),
in bounded batches. Two things make that cheap and safe:

- Indexes: every sweep finds its rows through an index, and every foreign key pointing at rows
  it deletes is indexed on the referencing side. `bookings.rescheduled_from` had none: deleting
  bookings scanned the table once per row (1M bookings took more than ten minutes).
- Two SECURITY DEFINER functions, `retention_count(class, cut)` and
  `retention_sweep(class, cut, batch)`, and `retention_abandoned_accounts(cut, batch)`: the app
  role gets no DELETE on bookings, users or sessions (ADR 15), and under row-level security it
  would not see everyone's rows; it may only call these, which remove exactly what the rules
  say. The class names are `core.consent.retention.DataClass` values; the periods stay in the
  core (the caller passes the cut). Each sweep deletes at most `batch` rows, skipping rows
  another transaction holds (FOR UPDATE SKIP LOCKED), in the caller's short transaction.

Revision ID: 0019_retention
Revises: 0018_privacy_rights
Create Date: 2026-11-27
"""

# ruff: noqa: S608  (every statement here is built from this file's constants only)
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from adapters.postgis.migrations.helpers import app_role

revision: str = "0019_retention"
down_revision: str | None = "0018_privacy_rights"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENDED_JOBS = "('succeeded', 'cancelled', 'aborted', 'failed')"
INDEXES = (
    # (name, table, definition)
    ("ix_bookings_rescheduled_from", "bookings",
     "(rescheduled_from) WHERE rescheduled_from IS NOT NULL"),
    ("ix_bookings_hold_expiry", "bookings",
     "(hold_expires_at) WHERE status IN ('held', 'expired')"),
    ("ix_auth_sessions_expires_at", "auth_sessions", "(expires_at)"),
    ("ix_auth_sessions_revoked_at", "auth_sessions", "(revoked_at) WHERE revoked_at IS NOT NULL"),
    ("ix_one_time_tokens_expires_at", "one_time_tokens", "(expires_at)"),
    ("ix_one_time_tokens_used_at", "one_time_tokens", "(used_at) WHERE used_at IS NOT NULL"),
    ("ix_users_unverified_created", "users", "(created_at) WHERE email_verified_at IS NULL"),
    ("ix_jobs_ended", "procrastinate_jobs", f"(status, id) WHERE status IN {ENDED_JOBS}"),
    # Dead deliveries are found through 0012's ix_webhook_deliveries_dead (created_at WHERE
    # status = 'dead'), which the dead-deliveries page reads: an index over both statuses would
    # duplicate it and could take that page's plan; the sweep ORs the two (a BitmapOr).
    ("ix_webhook_deliveries_succeeded", "webhook_deliveries",
     "(created_at) WHERE status = 'succeeded'"),
    ("ix_privacy_exports_expires_at", "privacy_exports", "(expires_at)"),
)  # fmt: skip

FINAL_MESSAGES = (
    "('sent', 'delivered', 'read', 'bounced', 'dropped', 'spam_reported', 'unsubscribed',"
    " 'failed', 'suppressed')"
)
# class -> (table, key column, the rows past `cut`, over alias t)
SWEEPS = {
    "auth_sessions": ("auth_sessions", "id", "t.revoked_at < cut OR t.expires_at < cut"),
    "one_time_tokens": ("one_time_tokens", "id", "t.used_at < cut OR t.expires_at < cut"),
    "audit_clients": ("audit_log_clients", "audit_id", "t.at < cut"),
    "messages": ("messages", "id", f"t.status IN {FINAL_MESSAGES} AND t.created_at < cut"),
    "expired_holds": (
        "bookings",
        "id",
        "t.status IN ('held', 'expired') AND t.hold_expires_at < cut"
        " AND NOT EXISTS (SELECT FROM payments p WHERE p.booking_id = t.id)"
        " AND NOT EXISTS (SELECT FROM bookings r WHERE r.rescheduled_from = t.id)",
    ),
    "finished_jobs": (
        "procrastinate_jobs",
        "id",
        "t.status IN ('succeeded', 'cancelled', 'aborted') AND NOT EXISTS ("
        "SELECT FROM procrastinate_events e WHERE e.job_id = t.id AND e.at >= cut)",
    ),
    "dead_jobs": (
        "procrastinate_jobs",
        "id",
        "t.status = 'failed' AND NOT EXISTS ("
        "SELECT FROM procrastinate_events e WHERE e.job_id = t.id AND e.at >= cut)",
    ),
    "privacy_exports": ("privacy_exports", "id", "t.expires_at < cut"),
    "webhook_deliveries": (
        "webhook_deliveries",
        "id",
        "(t.status = 'succeeded' AND t.created_at < cut)"
        " OR (t.status = 'dead' AND t.created_at < cut)",
    ),
}
# Refresh tokens of ended sessions: found through their session.
REFRESH_DUE = (
    "SELECT r.id FROM auth_sessions s JOIN refresh_tokens r ON r.session_id = s.id"
    " WHERE s.revoked_at < cut OR s.expires_at < cut"
)
# Rows that go with the swept ones, before them (foreign keys without a cascade), as separate
# statements: a data-modifying CTE cannot touch a row the same command's triggers change.
# (array variable of the due keys, statement)
ALSO = {
    # procrastinate keeps a periodic task's last ticks pointing at their jobs (no cascade): the
    # tick stays recorded (so it is not deferred again), without its job.
    "procrastinate_jobs": (
        "job_ids",
        "UPDATE procrastinate_periodic_defers SET job_id = NULL WHERE job_id = ANY(job_ids)",
    ),
    "webhook_deliveries": (
        "delivery_ids",
        "DELETE FROM webhook_delivery_attempts WHERE delivery_id = ANY(delivery_ids)",
    ),
}
ABANDONED = """
    FROM users u
    WHERE u.email_verified_at IS NULL AND u.created_at < cut AND NOT u.is_admin
      AND NOT EXISTS (SELECT FROM user_staff_roles s WHERE s.user_id = u.id)
      AND NOT EXISTS (SELECT FROM bookings b WHERE b.customer_id = u.id)
"""
FUNCTIONS = (
    "retention_count(text, timestamptz)",
    "retention_sweep(text, timestamptz, integer)",
    "retention_abandoned_count(timestamptz)",
    "retention_abandoned_accounts(timestamptz, integer)",
)


def _count_function() -> str:
    branches = [
        f"""IF data = '{data}' THEN
            SELECT count(*) INTO n FROM {table} t WHERE {due}; RETURN n; END IF;"""
        for data, (table, _key, due) in SWEEPS.items()
    ]
    branches.append(
        f"IF data = 'refresh_tokens' THEN SELECT count(*) INTO n FROM ({REFRESH_DUE}) x;"
        " RETURN n; END IF;"
    )
    return f"""
CREATE FUNCTION retention_count(data text, cut timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE n bigint;
BEGIN
    {" ".join(branches)}
    RAISE EXCEPTION 'no retention class %', data USING ERRCODE = 'invalid_parameter_value';
END
$$
"""


def _sweep_function() -> str:
    branches = []
    for data, (table, key, due) in SWEEPS.items():
        locked = (
            f"SELECT t.{key} FROM {table} t WHERE {due}"
            f" ORDER BY t.{key} LIMIT batch FOR UPDATE OF t SKIP LOCKED"
        )
        if table in ALSO:
            ids, statement = ALSO[table]
            body = f"""{ids} := ARRAY({locked}); {statement};
            DELETE FROM {table} WHERE {key} = ANY({ids});"""
        else:
            body = f"DELETE FROM {table} WHERE {key} IN ({locked});"
        branches.append(
            f"""IF data = '{data}' THEN
            {body} GET DIAGNOSTICS n = ROW_COUNT; RETURN n; END IF;"""
        )
    branches.append(
        """IF data = 'refresh_tokens' THEN
            DELETE FROM refresh_tokens WHERE id IN (
                SELECT r.id FROM auth_sessions s JOIN refresh_tokens r ON r.session_id = s.id
                WHERE s.revoked_at < cut OR s.expires_at < cut
                LIMIT batch FOR UPDATE OF r SKIP LOCKED);
            GET DIAGNOSTICS n = ROW_COUNT; RETURN n; END IF;"""
    )
    return f"""
CREATE FUNCTION retention_sweep(data text, cut timestamptz, batch integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    n bigint;
    job_ids bigint[];
    delivery_ids uuid[];
BEGIN
    {" ".join(branches)}
    RAISE EXCEPTION 'no retention class %', data USING ERRCODE = 'invalid_parameter_value';
END
$$
"""


ABANDONED_FUNCTIONS = (
    f"""
CREATE FUNCTION retention_abandoned_count(cut timestamptz) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT count(*) {ABANDONED}
$$
""",
    f"""
CREATE FUNCTION retention_abandoned_accounts(cut timestamptz, batch integer)
RETURNS TABLE (id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT u.id {ABANDONED} ORDER BY u.created_at, u.id LIMIT batch
$$
""",
)


def upgrade() -> None:
    for name, table, definition in INDEXES:
        op.execute(f"CREATE INDEX {name} ON {table} {definition}")
    op.execute(_count_function())
    op.execute(_sweep_function())
    for function in ABANDONED_FUNCTIONS:
        op.execute(function)
    role = app_role()
    for signature in FUNCTIONS:
        op.execute(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")
        if role is not None:
            op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {role}")


def downgrade() -> None:
    for signature in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION {signature}")
    for name, _table, _definition in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
