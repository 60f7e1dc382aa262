"""Media: photos of providers, places and offerings (Cloudinary assets).

Revision ID: 0011_media
Revises: 0010_messaging
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0011_media"
down_revision: str | None = "0010_messaging"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
