"""The payments sweeper reads recent cancellations: a partial index on bookings.cancelled_at.

Only cancelled bookings have `cancelled_at`, so the index stays as small as they are; the
sweeper's `cancelled_at >= :since ORDER BY cancelled_at, id LIMIT n` reads it in order.

Revision ID: 0007_bookings_cancelled_index
Revises: 0006_payments
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_bookings_cancelled_index"
down_revision: str | None = "0006_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_bookings_cancelled",
        "bookings",
        ["cancelled_at", "id"],
        postgresql_where=sa.text("cancelled_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_bookings_cancelled", table_name="bookings")
