"""Identity's personal fields sealed per person (issue 10; filled by the identity part).

Revision ID: 0015_identity_personal
Revises: 0014_person_keys
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0015_identity_personal"
down_revision: str | None = "0014_person_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
