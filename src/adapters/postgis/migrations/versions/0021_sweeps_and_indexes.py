"""Expired holds swept, every foreign key indexed (issue 11).

- `expire_lapsed_holds(now, batch)` marks at most `batch` holds whose expiry is at or before
  `now` as expired, skipping rows another transaction holds (FOR UPDATE SKIP LOCKED); the
  periodic `expire_holds` job calls it. SECURITY DEFINER: the app role runs under row-level
  security and sees only its caller's bookings; it may only call this, which changes exactly
  lapsed holds and nothing else.
- `ix_bookings_hold_expiry` (0019: hold_expires_at, over held and expired rows) becomes
  (status, hold_expires_at) over the same rows: the sweep reads only the lapsed *held* ones
  (a range of the index, never the expired rows piling up until retention removes them), and
  retention's delete of old held or expired rows reads the two ranges. One index, two sweeps.
- Every foreign key gets an index on its referencing side (tests/integration/
  test_foreign_keys_indexed.py lists any that lacks one): deleting or re-keying a referenced
  row otherwise scans the referencing table once per row. `ix_bookings_occurrence_live`
  (occurrence_id, status over live rows) becomes the same key over every session booking: it
  serves the seat counts as before and the foreign key too. procrastinate's jobs keep their
  worker's id after they finish, so a worker leaving (ON DELETE SET NULL) scanned every job.

Revision ID: 0021_sweeps_and_indexes
Revises: 0020_holds_in_one_trip
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from adapters.postgis.migrations.helpers import app_role

revision: str = "0021_sweeps_and_indexes"
down_revision: str | None = "0020_holds_in_one_trip"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, table, definition): replaced here, as 0019 and 0001 made them (for the downgrade).
REPLACED = (
    ("ix_bookings_hold_expiry", "bookings",
     "(hold_expires_at) WHERE status IN ('held', 'expired')"),
    ("ix_bookings_occurrence_live", "bookings",
     "(occurrence_id, status) WHERE status IN ('held', 'confirmed')"),
)  # fmt: skip
INDEXES = (
    ("ix_bookings_hold_expiry", "bookings",
     "(status, hold_expires_at) WHERE status IN ('held', 'expired')"),
    ("ix_bookings_occurrence", "bookings",
     "(occurrence_id, status) WHERE occurrence_id IS NOT NULL"),
    ("ix_bookings_offering", "bookings", "(offering_id)"),
    ("ix_bookings_resource", "bookings", "(resource_id) WHERE resource_id IS NOT NULL"),
    ("ix_ledger_transactions_refund", "ledger_transactions",
     "(refund_id) WHERE refund_id IS NOT NULL"),
    ("ix_jobs_worker", "procrastinate_jobs", "(worker_id) WHERE worker_id IS NOT NULL"),
)  # fmt: skip

EXPIRE = "expire_lapsed_holds(timestamptz, integer)"
# The batch is locked first and kept in an array: `UPDATE ... WHERE id IN (SELECT ... LIMIT
# batch FOR UPDATE SKIP LOCKED)` may be planned as a semi join that rescans the subquery per
# row, and each rescan skips the rows this very statement just updated, so it marked every
# lapsed hold at once instead of `batch` (seen in tests).
EXPIRE_FUNCTION = """
CREATE FUNCTION expire_lapsed_holds(cut timestamptz, batch integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    n integer;
    lapsed uuid[];
BEGIN
    lapsed := ARRAY(
        SELECT b.id FROM bookings b
        WHERE b.status = 'held' AND b.hold_expires_at <= cut
        ORDER BY b.status, b.hold_expires_at
        LIMIT batch FOR UPDATE SKIP LOCKED);
    UPDATE bookings SET status = 'expired' WHERE id = ANY(lapsed);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$
"""


def upgrade() -> None:
    for name, _table, _definition in REPLACED:
        op.execute(f"DROP INDEX {name}")
    for name, table, definition in INDEXES:
        op.execute(f"CREATE INDEX {name} ON {table} {definition}")
    op.execute(EXPIRE_FUNCTION)
    op.execute(f"REVOKE EXECUTE ON FUNCTION {EXPIRE} FROM PUBLIC")
    role = app_role()
    if role is not None:
        op.execute(f"GRANT EXECUTE ON FUNCTION {EXPIRE} TO {role}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {EXPIRE}")
    for name, _table, _definition in reversed(INDEXES):
        op.execute(f"DROP INDEX {name}")
    for name, table, definition in REPLACED:
        op.execute(f"CREATE INDEX {name} ON {table} {definition}")
