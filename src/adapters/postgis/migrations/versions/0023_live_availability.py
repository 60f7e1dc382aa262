"""Live availability events (issue 12, docs/adr/0032).

- `live_changes`: a queue of booking changes that free or take a slot, written by a trigger on
  `bookings` in the transaction that makes the change, so every writer is covered: the hold and
  reschedule functions (0020), transitions (confirm, cancel), the expiry sweep
  (`expire_lapsed_holds`, 0021, which emitted nothing until now) and holds expired in the way
  of a new one (0004), from HTTP, the CLI or a job alike. The row commits or vanishes with the
  change; the relay deletes rows as it publishes them, so the table holds only what is not yet
  published (no foreign keys: a change outlives nothing it names).
- The trigger also NOTIFYs `live_changes` (no payload: PostgreSQL folds a transaction's equal
  notifications into one, so a sweep of 500 holds wakes the relay once), which reaches the
  relay at commit.
- The queue names customers, so row-level security is on with no policy: the app role reads
  no row of it. The trigger function and `live_take_changes(batch)` (deletes the oldest
  `batch` rows and returns them: all the relay does) are SECURITY DEFINER; the app role may
  only execute the latter (as `expire_lapsed_holds` in 0021).

Revision ID: 0023_live_availability
Revises: 0022_search_in_one_trip
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.migrations.helpers import app_role

revision: str = "0023_live_availability"
down_revision: str | None = "0022_search_in_one_trip"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("held", "confirmed", "cancelled", "expired", "rescheduled")
# A status change names its kind; completed and no-show change no free slot, so say nothing.
CHANGED = """
CREATE FUNCTION live_booking_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    change text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        change := CASE WHEN NEW.status IN ('held', 'confirmed') THEN 'held' END;
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        change := CASE WHEN NEW.status IN ('confirmed', 'cancelled', 'expired', 'rescheduled')
                       THEN NEW.status END;
    END IF;
    IF change IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO live_changes (kind, booking_id, offering_id, place_id, customer_id, status,
                              during, lat, lng)
    SELECT change, NEW.id, NEW.offering_id, p.id, NEW.customer_id, NEW.status, NEW.during,
           ST_Y(p.location::geometry), ST_X(p.location::geometry)
    FROM offerings o JOIN places p ON p.id = o.place_id
    WHERE o.id = NEW.offering_id;
    PERFORM pg_notify('live_changes', '');
    RETURN NULL;
END
$$
"""
TAKE = """
CREATE FUNCTION live_take_changes(batch integer)
RETURNS TABLE (id bigint, kind text, booking_id uuid, offering_id uuid, place_id uuid,
               customer_id uuid, status text, start timestamptz, "end" timestamptz,
               lat double precision, lng double precision, changed_at timestamptz)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    DELETE FROM live_changes
    WHERE live_changes.id IN (SELECT c.id FROM live_changes c ORDER BY c.id LIMIT batch)
    RETURNING live_changes.id, live_changes.kind, live_changes.booking_id,
              live_changes.offering_id, live_changes.place_id, live_changes.customer_id,
              live_changes.status, lower(live_changes.during), upper(live_changes.during),
              live_changes.lat, live_changes.lng, live_changes.changed_at
$$
"""
TRIGGER = (
    "CREATE TRIGGER live_booking_changed AFTER INSERT OR UPDATE OF status ON bookings"
    " FOR EACH ROW EXECUTE FUNCTION live_booking_changed()"
)


def upgrade() -> None:
    op.create_table(
        "live_changes",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("booking_id", pg.UUID, nullable=False),
        sa.Column("offering_id", pg.UUID, nullable=False),
        sa.Column("place_id", pg.UUID, nullable=False),
        sa.Column("customer_id", pg.UUID, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("during", pg.TSTZRANGE, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lng", sa.Float, nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("clock_timestamp()"),
        ),
        sa.PrimaryKeyConstraint("id", name="pk_live_changes"),
        sa.CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in KINDS) + ")", name="ck_live_changes_kind"
        ),
    )
    op.execute("ALTER TABLE live_changes ENABLE ROW LEVEL SECURITY")  # no policy: no rows
    op.execute(CHANGED)
    op.execute(TAKE)
    for function in ("live_booking_changed()", "live_take_changes(integer)"):
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
    op.execute(TRIGGER)
    role = app_role()
    if role is not None:
        op.execute(f"GRANT EXECUTE ON FUNCTION live_take_changes(integer) TO {role}")


def downgrade() -> None:
    op.execute("DROP TRIGGER live_booking_changed ON bookings")
    op.execute("DROP FUNCTION live_take_changes(integer)")
    op.execute("DROP FUNCTION live_booking_changed()")
    op.drop_table("live_changes")
