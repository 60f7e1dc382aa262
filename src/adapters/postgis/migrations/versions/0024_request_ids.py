"""Request ids carried into outbox events and jobs (issue 12).

A slot reserved for issue 12; it changes nothing yet.

Revision ID: 0024_request_ids
Revises: 0023_live_availability
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0024_request_ids"
down_revision: str | None = "0023_live_availability"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
