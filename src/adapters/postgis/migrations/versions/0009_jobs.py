"""The job queue (procrastinate) and the outbox trigger that defers a job per event.

Revision ID: 0009_jobs
Revises: 0008_payments_queues
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0009_jobs"
down_revision: str | None = "0008_payments_queues"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
