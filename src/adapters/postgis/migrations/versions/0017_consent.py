"""The consent ledger, policy documents and cookie choices (issue 10).

`consent_entries` is append-only for the app role (SELECT, INSERT: no UPDATE, DELETE or
TRUNCATE). Row-level security: a user's entries are visible to and appendable by that user
(and admins, maintenance); an anonymous browser's entries only by whoever presents its id as
the transaction's key (`Access.holding(anonymous_id)`, the service does so for the browser
that sent it). `policy_versions` names no person: public to read, the app role appends.

Revision ID: 0017_consent
Revises: 0016_messaging_personal
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.migrations.helpers import check, grant_app_role, row_level_security

revision: str = "0017_consent"
down_revision: str | None = "0016_messaging_personal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
TZ = sa.DateTime(timezone=True)
PURPOSES = "'transactional', 'reminders', 'marketing', 'analytics', 'preferences'"
CHANNELS = "'email', 'whatsapp', 'web'"
METHODS = "'api', 'cookie_banner', 'cli', 'import', 'merged'"
KINDS = "'privacy', 'cookies'"

PRIVILEGES = {"consent_entries": "SELECT, INSERT", "policy_versions": "SELECT, INSERT"}
WHOSE = "app_all_rows() OR user_id = app_user_id() OR anonymous_id = app_key()"
POLICIES = (
    f"CREATE POLICY consent_entries_read ON consent_entries FOR SELECT USING ({WHOSE})",
    f"CREATE POLICY consent_entries_append ON consent_entries FOR INSERT WITH CHECK ({WHOSE})",
)


def upgrade() -> None:
    op.create_table(
        "consent_entries",
        sa.Column("id", UUID, nullable=False),
        sa.Column("user_id", UUID),
        sa.Column("anonymous_id", sa.Text),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("policy_kind", sa.Text, nullable=False),
        sa.Column("policy_version", sa.Integer),
        sa.Column("wording_hash", sa.Text, nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("merged_from", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_consent_entries"),
        check("consent_entries", "one_subject", "(user_id IS NULL) <> (anonymous_id IS NULL)"),
        check("consent_entries", "purpose", f"purpose IN ({PURPOSES})"),
        check("consent_entries", "channel", f"channel IN ({CHANNELS})"),
        check("consent_entries", "decision", "decision IN ('granted', 'withdrawn')"),
        check("consent_entries", "method", f"method IN ({METHODS})"),
        check("consent_entries", "policy_kind", f"policy_kind IN ({KINDS})"),
        check("consent_entries", "seq", "seq >= 1"),
        check("consent_entries", "wording_hash", "wording_hash ~ '^[0-9a-f]{64}$'"),
        check("consent_entries", "anonymous_id", "anonymous_id ~ '^anon_[A-Za-z0-9_-]{32}$'"),
    )
    op.create_index(
        "uq_consent_entries_user_key",
        "consent_entries",
        ["user_id", "purpose", "channel", "seq"],
        unique=True,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_index(
        "uq_consent_entries_anonymous_key",
        "consent_entries",
        ["anonymous_id", "purpose", "channel", "seq"],
        unique=True,
        postgresql_where=sa.text("anonymous_id IS NOT NULL"),
    )
    op.create_table(
        "policy_versions",
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("text_hash", sa.Text, nullable=False),
        sa.Column("requires_fresh_consent", sa.Boolean, nullable=False),
        sa.Column("published_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("kind", "version", name="pk_policy_versions"),
        check("policy_versions", "kind", f"kind IN ({KINDS})"),
        check("policy_versions", "version", "version >= 1"),
    )
    row_level_security(["consent_entries"], POLICIES)
    grant_app_role(PRIVILEGES)


def downgrade() -> None:
    op.drop_table("policy_versions")
    op.drop_table("consent_entries")
