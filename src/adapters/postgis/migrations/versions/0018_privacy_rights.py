"""Exports and erasures of a person's data (issue 10).

Revision ID: 0018_privacy_rights
Revises: 0017_consent
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0018_privacy_rights"
down_revision: str | None = "0017_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
