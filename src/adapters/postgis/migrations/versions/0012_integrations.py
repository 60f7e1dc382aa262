"""Integrators' webhook endpoints and their deliveries.

Revision ID: 0012_integrations
Revises: 0011_media
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0012_integrations"
down_revision: str | None = "0011_media"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
