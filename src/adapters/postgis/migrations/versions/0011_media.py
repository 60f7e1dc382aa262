"""Media: photos of providers, places and offerings (Cloudinary assets).

One table, `photos`. Least privilege as in 0004 and 0006: the app role may read, add, change
and remove photos (a photo's row goes once its asset is destroyed), nothing more. Row-level
security: photos are public to read (the catalog shows them); adding, changing and removing
one is for the staff of its provider, admins and the service's maintenance jobs (the upload
notification and the destroy job). Owners and providers are not foreign keys (see
adapters/postgis/media/tables.py); the columns that name them are indexed. Destroy jobs live
in procrastinate's table (0009).

Revision ID: 0011_media
Revises: 0010_messaging
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.migrations.helpers import grant_app_role, row_level_security

revision: str = "0011_media"
down_revision: str | None = "0010_messaging"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
TZ = sa.DateTime(timezone=True)
PRIVILEGES = {"photos": "SELECT, INSERT, UPDATE, DELETE"}
STAFF = "app_all_rows() OR provider_id = ANY (app_provider_ids())"
POLICIES = (
    "CREATE POLICY photos_read ON photos FOR SELECT USING (true)",
    f"CREATE POLICY photos_add ON photos FOR INSERT WITH CHECK ({STAFF})",
    f"CREATE POLICY photos_change ON photos FOR UPDATE USING ({STAFF}) WITH CHECK ({STAFF})",
    f"CREATE POLICY photos_remove ON photos FOR DELETE USING ({STAFF})",
)


def _check(name: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=f"ck_photos_{name}")


def upgrade() -> None:
    op.create_table(
        "photos",
        sa.Column("id", UUID, nullable=False),
        sa.Column("owner_kind", sa.Text, nullable=False),
        sa.Column("owner_id", UUID, nullable=False),
        sa.Column("provider_id", UUID, nullable=False),
        sa.Column("public_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("moderation", sa.Text),
        sa.Column("version", sa.BigInteger),
        sa.Column("format", sa.Text),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("bytes", sa.BigInteger),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("attached_at", TZ),
        sa.PrimaryKeyConstraint("id", name="pk_photos"),
        sa.UniqueConstraint("public_id", name="uq_photos_public_id"),
        _check("owner_kind", "owner_kind IN ('provider', 'place', 'offering')"),
        _check("status", "status IN ('pending', 'attached', 'rejected', 'deleting')"),
        _check("moderation", "moderation IN ('pending', 'approved', 'rejected')"),
        _check("provider_owner", "owner_kind <> 'provider' OR owner_id = provider_id"),
        _check("sizes", "width >= 0 AND height >= 0 AND bytes >= 0"),
    )
    op.create_index("ix_photos_owner", "photos", ["owner_kind", "owner_id", "created_at", "id"])
    op.create_index("ix_photos_provider", "photos", ["provider_id", "created_at", "id"])
    row_level_security(["photos"], POLICIES)
    grant_app_role(PRIVILEGES)


def downgrade() -> None:
    op.drop_table("photos")  # its policies, indexes and grants go with it
