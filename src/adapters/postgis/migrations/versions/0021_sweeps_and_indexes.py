"""Expired holds swept, every foreign key indexed (issue 11).

A slot reserved for issue 11; it changes nothing yet.

Revision ID: 0021_sweeps_and_indexes
Revises: 0020_holds_in_one_trip
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0021_sweeps_and_indexes"
down_revision: str | None = "0020_holds_in_one_trip"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
