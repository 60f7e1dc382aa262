"""Integrators' webhook endpoints and their deliveries.

Least privilege as in 0004: the app role may read, add and change endpoints and deliveries
(nothing is deleted: a disabled endpoint keeps its history) and only read and append attempts.
Row-level security: staff see and change their providers' endpoints, and the deliveries and
attempts of those endpoints; admins and maintenance jobs (the worker's dispatch and delivery)
see all. Signing secrets are stored only sealed (bytea), the current one and the previous one
during its 24 h grace.

Revision ID: 0012_integrations
Revises: 0011_media
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.migrations.helpers import check, grant_app_role, row_level_security

revision: str = "0012_integrations"
down_revision: str | None = "0011_media"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
TZ = sa.DateTime(timezone=True)
EVENT_TYPES = "'held', 'confirmed', 'cancelled', 'rescheduled', 'paid', 'refunded'"

PRIVILEGES = {
    "webhook_endpoints": "SELECT, INSERT, UPDATE",
    "webhook_deliveries": "SELECT, INSERT, UPDATE",
    "webhook_delivery_attempts": "SELECT, INSERT",
}
POLICIES = (
    "CREATE POLICY webhook_endpoints_staff ON webhook_endpoints"
    " USING (app_all_rows() OR provider_id = ANY (app_provider_ids()))",
    # The subqueries see only the rows the caller may see (their own policies apply).
    "CREATE POLICY webhook_deliveries_staff ON webhook_deliveries"
    " USING (app_all_rows() OR endpoint_id IN (SELECT id FROM webhook_endpoints))",
    "CREATE POLICY webhook_delivery_attempts_staff ON webhook_delivery_attempts"
    " USING (app_all_rows() OR delivery_id IN (SELECT id FROM webhook_deliveries))",
)


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", UUID, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
        check("webhook_endpoints", "url", "char_length(url) <= 2048 AND url LIKE 'https://%'"),
        check(
            "webhook_endpoints",
            "event_types",
            f"cardinality(event_types) >= 1 AND event_types <@ ARRAY[{EVENT_TYPES}]::text[]",
        ),
        check(
            "webhook_endpoints",
            "previous_secret",
            "(previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL)"
            " AND (previous_secret_sealed IS NULL) = (previous_secret_created_at IS NULL)",
        ),
    )
    op.create_index(
        "ix_webhook_endpoints_provider", "webhook_endpoints", ["provider_id", "created_at"]
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", UUID, nullable=False),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("endpoint_id", UUID, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint("seq", name="uq_webhook_deliveries_seq"),
        # Also the index of the foreign key (its leading column).
        sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name="fk_webhook_deliveries_endpoint_id_webhook_endpoints",
        ),
        check("webhook_deliveries", "event_type", f"event_type IN ({EVENT_TYPES})"),
        check(
            "webhook_deliveries",
            "status",
            "status IN ('pending', 'failed', 'succeeded', 'dead')",
        ),
        check("webhook_deliveries", "attempts", "attempts >= 0"),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_newest",
        "webhook_deliveries",
        ["endpoint_id", sa.text("seq DESC")],
    )
    op.create_index(
        "ix_webhook_deliveries_dead",
        "webhook_deliveries",
        ["created_at"],
        postgresql_where=sa.text("status = 'dead'"),
    )
    op.create_table(
        "webhook_delivery_attempts",
        sa.Column("delivery_id", UUID, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        # Its leading column indexes the foreign key.
        sa.PrimaryKeyConstraint("delivery_id", "number", name="pk_webhook_delivery_attempts"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name="fk_webhook_delivery_attempts_delivery_id_webhook_deliveries",
        ),
        check("webhook_delivery_attempts", "number", "number >= 1"),
        check("webhook_delivery_attempts", "body", "octet_length(body) <= 4096"),
    )
    row_level_security(PRIVILEGES, POLICIES)
    grant_app_role(PRIVILEGES)


def downgrade() -> None:
    for table in reversed(PRIVILEGES):  # policies, indexes and grants go with the tables
        op.drop_table(table)
