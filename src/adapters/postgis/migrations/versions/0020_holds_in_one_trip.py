"""Holds and transitions in one round trip (issue 11): catalog versions and the write functions.

A slot reserved for issue 11; it changes nothing yet.

Revision ID: 0020_holds_in_one_trip
Revises: 0019_retention
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0020_holds_in_one_trip"
down_revision: str | None = "0019_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
