"""Who cancelled a booking, and when: `bookings.cancelled_at` and `bookings.cancelled_by`.

Both are nullable (bookings cancelled before this revision did not record them) and set
together; `cancelled_by` is 'customer' or 'provider' (the provider's staff or an admin).

Nothing else changes: the app role's privileges on `bookings` (migration 0004) are granted on
the whole table, so they cover the new columns; the row-level security policy filters rows,
not columns; the `booking_occupancy` view names its columns and does not show these.

Revision ID: 0005_booking_cancellations
Revises: 0004_least_privilege
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_booking_cancellations"
down_revision: str | None = "0004_least_privilege"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS = {
    "ck_bookings_cancelled_by": "cancelled_by IN ('customer', 'provider')",
    "ck_bookings_cancellation": "(cancelled_at IS NULL) = (cancelled_by IS NULL)",
}


def upgrade() -> None:
    op.add_column("bookings", sa.Column("cancelled_at", sa.DateTime(timezone=True)))
    op.add_column("bookings", sa.Column("cancelled_by", sa.Text))
    for name, condition in CHECKS.items():
        op.create_check_constraint(name, "bookings", condition)


def downgrade() -> None:
    for name in CHECKS:
        op.drop_constraint(name, "bookings", type_="check")
    op.drop_column("bookings", "cancelled_by")
    op.drop_column("bookings", "cancelled_at")
