"""Messaging: messages, contact preferences, undeliverable addresses, calendar.

Revision ID: 0010_messaging
Revises: 0009_jobs
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0010_messaging"
down_revision: str | None = "0009_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
