"""Person keys: each person's data key, wrapped by the keyring, and the lookup-hash key.

Personal values are sealed under their person's key (docs/adr/0025); erasure empties the key
and keeps a tombstone (`shredded_at`) so nothing can be sealed for that person again. The app
role may read, add and change (shred) keys, never delete them: a deleted tombstone would let a
late writer make the person a new key.

Revision ID: 0014_person_keys
Revises: 0013_reminder_plans
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.migrations.helpers import check, grant_app_role

revision: str = "0014_person_keys"
down_revision: str | None = "0013_reminder_plans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "person_keys",
        sa.Column("person_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("key_sealed", sa.LargeBinary),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("shredded_at", TZ),
        sa.PrimaryKeyConstraint("person_id", name="pk_person_keys"),
        check("person_keys", "shredded", "(key_sealed IS NULL) = (shredded_at IS NOT NULL)"),
    )
    op.create_table(
        "privacy_lookup_keys",
        sa.Column("id", sa.SmallInteger, nullable=False),
        sa.Column("key_sealed", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_privacy_lookup_keys"),
        check("privacy_lookup_keys", "one_row", "id = 1"),
    )
    grant_app_role(
        {"person_keys": "SELECT, INSERT, UPDATE", "privacy_lookup_keys": "SELECT, INSERT, UPDATE"}
    )


def downgrade() -> None:
    op.drop_table("privacy_lookup_keys")
    op.drop_table("person_keys")
