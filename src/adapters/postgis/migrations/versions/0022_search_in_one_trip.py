"""Search and availability in one round trip (issue 11).

A slot reserved for issue 11; it changes nothing yet.

Revision ID: 0022_search_in_one_trip
Revises: 0021_sweeps_and_indexes
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0022_search_in_one_trip"
down_revision: str | None = "0021_sweeps_and_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
