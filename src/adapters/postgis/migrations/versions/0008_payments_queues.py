"""Payments as the port states them: the charge id, one open payment per part, the queues.

- `payments.charge_id`: the processor's succeeded charge, which its balance lines (and so
  reconciliation) name; the capture and fee transactions of the ledger record it as source.
- `uq_payments_booking_part_open`: two requests paying for the same booking at once both pass
  the "no open payment yet" check; this unique index lets one insert win
  (`PaymentRepository.add` answers False to the other, which returns the winner's payment). A
  cancelled payment leaves room for a new one.
- `ix_payments_unsettled` also holds succeeded payments whose processor fee is not known yet
  (the sweeper posts the fee once the processor has it), and `ix_payments_balances_due` only
  balances with no intent yet (one that has an intent is being charged).

Revision ID: 0008_payments_queues
Revises: 0007_bookings_cancelled_index
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_payments_queues"
down_revision: str | None = "0007_bookings_cancelled_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUES = {  # name: (column, predicate now, predicate of 0006)
    "ix_payments_unsettled": (
        "created_at",
        "status = 'succeeded' AND (booking_outcome IS NULL OR fee_minor IS NULL)",
        "status = 'succeeded' AND booking_outcome IS NULL",
    ),
    "ix_payments_balances_due": (
        "due_at",
        "part = 'balance' AND status = 'created' AND intent_id IS NULL",
        "part = 'balance' AND status = 'created'",
    ),
}


def upgrade() -> None:
    op.add_column("payments", sa.Column("charge_id", sa.Text))
    op.create_index(
        "uq_payments_booking_part_open",
        "payments",
        ["booking_id", "part"],
        unique=True,
        postgresql_where=sa.text("status <> 'cancelled'"),
    )
    for name, (column, now, _) in QUEUES.items():
        op.drop_index(name, table_name="payments")
        op.create_index(name, "payments", [column], postgresql_where=sa.text(now))


def downgrade() -> None:
    for name, (column, _, before) in QUEUES.items():
        op.drop_index(name, table_name="payments")
        op.create_index(name, "payments", [column], postgresql_where=sa.text(before))
    op.drop_index("uq_payments_booking_part_open", table_name="payments")
    op.drop_column("payments", "charge_id")
