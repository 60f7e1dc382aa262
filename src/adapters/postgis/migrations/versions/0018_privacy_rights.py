"""Exports and erasures of a person's data (issue 10; docs/adr/0027-export-and-erasure.md).

`privacy_exports`: one row per export asked for; its content is sealed under the person's own
key (field "privacy.export"), so it stops opening once they are erased; a download link is kept
only as the SHA-256 of its token. `erasure_requests`: one row per erased person, recording the
erasure's steps done (a job resumes after the last one) and its completion. Both are a
person's rows under row-level security: their person, admins and maintenance jobs see them; a
download link's digest shows only its export. Keep in step with adapters/postgis/privacy/tables.py.

Revision ID: 0018_privacy_rights
Revises: 0017_consent
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.migrations.helpers import check, grant_app_role, row_level_security

revision: str = "0018_privacy_rights"
down_revision: str | None = "0017_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
UUID = pg.UUID(as_uuid=True)

PRIVILEGES = {
    "privacy_exports": "SELECT, INSERT, UPDATE, DELETE",
    "erasure_requests": "SELECT, INSERT, UPDATE",
}
POLICIES = (
    "CREATE POLICY privacy_exports_caller ON privacy_exports"
    " USING (app_all_rows() OR person_id = app_user_id() OR token_hash = app_key())",
    "CREATE POLICY erasure_requests_caller ON erasure_requests"
    " USING (app_all_rows() OR person_id = app_user_id())",
)


def upgrade() -> None:
    op.create_table(
        "privacy_exports",
        sa.Column("id", UUID, nullable=False),
        sa.Column("person_id", UUID, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("requested_at", TZ, nullable=False),
        sa.Column("ready_at", TZ),
        sa.Column("expires_at", TZ),
        sa.Column("content_sealed", sa.LargeBinary),
        sa.Column("token_hash", sa.Text),
        sa.Column("link_expires_at", TZ),
        sa.PrimaryKeyConstraint("id", name="pk_privacy_exports"),
        sa.UniqueConstraint("token_hash", name="uq_privacy_exports_token_hash"),
        check("privacy_exports", "status", "status IN ('pending', 'ready')"),
        check(
            "privacy_exports",
            "ready",
            "(status = 'ready') = (content_sealed IS NOT NULL AND ready_at IS NOT NULL"
            " AND expires_at IS NOT NULL)",
        ),
        check("privacy_exports", "link", "(token_hash IS NULL) = (link_expires_at IS NULL)"),
    )
    op.create_index(
        "ix_privacy_exports_person_id", "privacy_exports", ["person_id", "requested_at"]
    )
    op.create_table(
        "erasure_requests",
        sa.Column("person_id", UUID, nullable=False),
        sa.Column("requested_at", TZ, nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column(
            "steps_done",
            pg.ARRAY(sa.Text),
            nullable=False,
            server_default=sa.text("'{}'::text[]"),
        ),
        sa.Column("completed_at", TZ),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("person_id", name="pk_erasure_requests"),
        check("erasure_requests", "requested_by", "requested_by IN ('self', 'operator')"),
    )
    row_level_security(PRIVILEGES, POLICIES)
    grant_app_role(PRIVILEGES)


def downgrade() -> None:
    op.drop_table("erasure_requests")
    op.drop_index("ix_privacy_exports_person_id", "privacy_exports")
    op.drop_table("privacy_exports")
