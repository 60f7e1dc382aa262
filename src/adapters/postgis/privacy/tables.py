"""The privacy rights' tables (SQLAlchemy Core): keep in step with migration 0018."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.metadata import metadata

UUID = pg.UUID(as_uuid=True)
TZ = sa.DateTime(timezone=True)
PRIVACY_TABLES = ("privacy_exports", "erasure_requests")

privacy_exports = sa.Table(
    "privacy_exports",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("person_id", UUID, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("requested_at", TZ, nullable=False),
    sa.Column("ready_at", TZ),
    sa.Column("expires_at", TZ),
    sa.Column("content_sealed", sa.LargeBinary),
    sa.Column("token_hash", sa.Text, unique=True),
    sa.Column("link_expires_at", TZ),
)
sa.Index(
    "ix_privacy_exports_person_id", privacy_exports.c.person_id, privacy_exports.c.requested_at
)

erasure_requests = sa.Table(
    "erasure_requests",
    metadata,
    sa.Column("person_id", UUID, primary_key=True),
    sa.Column("requested_at", TZ, nullable=False),
    sa.Column("requested_by", sa.Text, nullable=False),
    sa.Column("steps_done", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
    sa.Column("completed_at", TZ),
    sa.Column("last_error", sa.Text),
)
sa.Index("ix_privacy_exports_expires_at", privacy_exports.c.expires_at)  # retention (0019)
