"""The consent ledger, policy documents and cookie choices (issue 10).

Revision ID: 0017_consent
Revises: 0016_messaging_personal
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0017_consent"
down_revision: str | None = "0016_messaging_personal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
