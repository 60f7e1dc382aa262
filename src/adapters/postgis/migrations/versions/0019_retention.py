"""Retention of personal data (issue 10).

Revision ID: 0019_retention
Revises: 0018_privacy_rights
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0019_retention"
down_revision: str | None = "0018_privacy_rights"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
