"""Live availability events (issue 12).

A slot reserved for issue 12; it changes nothing yet.

Revision ID: 0023_live_availability
Revises: 0022_search_in_one_trip
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0023_live_availability"
down_revision: str | None = "0022_search_in_one_trip"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
