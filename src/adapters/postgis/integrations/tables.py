"""Tables of the integrations context (SQLAlchemy Core); keep in step with migration
0012_integrations (test_integrations_migration.py compares the catalogs).

Signing secrets are stored only sealed (`Sealed.to_bytes()`, bytea), the current one and the
previous one during its 24 h grace. A delivery is unique per (endpoint, event): that index also
serves the foreign key. Provider and event ids are not foreign keys: contexts keep their schemas
apart (the outbox may be pruned; a delivery keeps its own copy of the payload).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.metadata import metadata, one_of

UUID = pg.UUID(as_uuid=True)
TZ = sa.DateTime(timezone=True)
EVENT_TYPES = ("held", "confirmed", "cancelled", "rescheduled", "paid", "refunded")
DELIVERY_STATUSES = ("pending", "failed", "succeeded", "dead")

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("provider_id", UUID, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_types", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
    sa.Column("secret_created_at", TZ, nullable=False),
    sa.Column("previous_secret_sealed", sa.LargeBinary),
    sa.Column("previous_secret_created_at", TZ),
    sa.Column("previous_secret_expires_at", TZ),
    sa.CheckConstraint("char_length(url) <= 2048 AND url LIKE 'https://%'", name="url"),
    sa.CheckConstraint(
        "cardinality(event_types) >= 1 AND event_types <@ ARRAY["
        + ", ".join(f"'{name}'" for name in EVENT_TYPES)
        + "]::text[]",
        name="event_types",
    ),
    sa.CheckConstraint(
        "(previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL)"
        " AND (previous_secret_sealed IS NULL) = (previous_secret_created_at IS NULL)",
        name="previous_secret",
    ),
)
sa.Index(
    "ix_webhook_endpoints_provider",
    webhook_endpoints.c.provider_id,
    webhook_endpoints.c.created_at,
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
    sa.Column("endpoint_id", UUID, sa.ForeignKey("webhook_endpoints.id"), nullable=False),
    sa.Column("event_id", UUID, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("payload", pg.JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", TZ),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_body", sa.Text),
    sa.Column("last_latency_ms", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", TZ, nullable=False),
    sa.UniqueConstraint("seq", name="uq_webhook_deliveries_seq"),
    sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
    sa.CheckConstraint(one_of("event_type", EVENT_TYPES), name="event_type"),
    sa.CheckConstraint(one_of("status", DELIVERY_STATUSES), name="status"),
    sa.CheckConstraint("attempts >= 0", name="attempts"),
)
sa.Index(
    "ix_webhook_deliveries_endpoint_newest",
    webhook_deliveries.c.endpoint_id,
    webhook_deliveries.c.seq.desc(),
)
sa.Index(
    "ix_webhook_deliveries_dead",
    webhook_deliveries.c.created_at,
    postgresql_where=webhook_deliveries.c.status == "dead",
)
# Retention (migration 0019): succeeded deliveries, oldest first. The sweep finds dead ones
# through ix_webhook_deliveries_dead: an index over both statuses would duplicate it (and could
# take the dead-deliveries page's plan).
sa.Index(
    "ix_webhook_deliveries_succeeded",
    webhook_deliveries.c.created_at,
    postgresql_where=webhook_deliveries.c.status == "succeeded",
)


webhook_delivery_attempts = sa.Table(
    "webhook_delivery_attempts",
    metadata,
    sa.Column(
        "delivery_id",
        UUID,
        sa.ForeignKey("webhook_deliveries.id"),
        primary_key=True,
    ),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("at", TZ, nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.CheckConstraint("number >= 1", name="number"),
    sa.CheckConstraint("octet_length(body) <= 4096", name="body"),
)
