"""The media context's table (SQLAlchemy Core), kept apart from the attrs domain.

Keep it and migration 0011_media in step (tests/integration/media/test_media_migration.py
compares the catalogs). Owners and providers are not foreign keys: a photo must outlive its
owner's row until its asset is destroyed at the store (a foreign key would either block
deleting the place or cascade the row away first), and contexts keep their schemas apart.
The referencing columns are indexed all the same.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.metadata import metadata, one_of

UUID = pg.UUID(as_uuid=True)
OWNER_KINDS = ("provider", "place", "offering")
PHOTO_STATUSES = ("pending", "attached", "rejected", "deleting")
MODERATIONS = ("pending", "approved", "rejected")
MEDIA_TABLES = ("photos",)

photos = sa.Table(
    "photos",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("owner_kind", sa.Text, nullable=False),
    sa.Column("owner_id", UUID, nullable=False),
    sa.Column("provider_id", UUID, nullable=False),
    sa.Column("public_id", sa.Text, nullable=False, unique=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("moderation", sa.Text),
    sa.Column("version", sa.BigInteger),
    sa.Column("format", sa.Text),
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("bytes", sa.BigInteger),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attached_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(one_of("owner_kind", OWNER_KINDS), name="owner_kind"),
    sa.CheckConstraint(one_of("status", PHOTO_STATUSES), name="status"),
    sa.CheckConstraint(one_of("moderation", MODERATIONS), name="moderation"),
    sa.CheckConstraint("owner_kind <> 'provider' OR owner_id = provider_id", name="provider_owner"),
    sa.CheckConstraint("width >= 0 AND height >= 0 AND bytes >= 0", name="sizes"),
)
sa.Index(
    "ix_photos_owner", photos.c.owner_kind, photos.c.owner_id, photos.c.created_at, photos.c.id
)
sa.Index("ix_photos_provider", photos.c.provider_id, photos.c.created_at, photos.c.id)
