"""Messaging's and payments' personal fields sealed per person (issue 10).

Revision ID: 0016_messaging_personal
Revises: 0015_identity_personal
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0016_messaging_personal"
down_revision: str | None = "0015_identity_personal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
