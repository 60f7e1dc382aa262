"""Identity context: users, one-time tokens, sessions and refresh tokens, MFA, signing keys,
and the append-only audit log.

Revision ID: 0002_identity
Revises: 0001_bookings
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0002_identity"
down_revision: str | None = "0001_bookings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
TZ = sa.DateTime(timezone=True)


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], ondelete="CASCADE", name=f"fk_{table}_user_id_users"
    )


def upgrade() -> None:
    _users()
    _tokens_and_sessions()
    _mfa()
    _signing_keys()
    _audit_log()


def _users() -> None:
    op.create_table(
        "users",
        sa.Column("id", UUID, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("email_key", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("email_verified_at", TZ),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("locked_at", TZ),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email_key", name="uq_users_email_key"),
        sa.CheckConstraint("email_key = lower(email)", name="ck_users_email_key_lowercase"),
    )
    op.create_table(
        "user_staff_roles",
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("provider_id", UUID, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "provider_id", name="pk_user_staff_roles"),
        _user_fk("user_staff_roles"),
    )


def _tokens_and_sessions() -> None:
    op.create_table(
        "one_time_tokens",
        sa.Column("id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ),
        sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_one_time_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_one_time_tokens_token_hash"),
        sa.CheckConstraint(
            "purpose IN ('email_verification', 'password_reset', 'mfa_challenge')",
            name="ck_one_time_tokens_purpose",
        ),
        _user_fk("one_time_tokens"),
    )
    op.create_index("ix_one_time_tokens_user_id", "one_time_tokens", ["user_id"])
    op.create_table(
        "auth_sessions",
        sa.Column("id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_used_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("aal", sa.Text, nullable=False),
        sa.Column("amr", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("user_agent", sa.Text),
        sa.Column("ip", sa.Text),
        sa.Column("revoked_at", TZ),
        sa.PrimaryKeyConstraint("id", name="pk_auth_sessions"),
        sa.CheckConstraint("aal IN ('aal1', 'aal2')", name="ck_auth_sessions_aal"),
        _user_fk("auth_sessions"),
    )
    op.create_index("ix_auth_sessions_user_id", "auth_sessions", ["user_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("id", UUID, nullable=False),
        sa.Column("session_id", UUID, nullable=False),
        sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("parent_id", UUID),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("rotated_at", TZ),
        sa.Column("child_id", UUID),
        sa.Column("child_seal", sa.LargeBinary),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["auth_sessions.id"],
            ondelete="CASCADE",
            name="fk_refresh_tokens_session_id_auth_sessions",
        ),
    )
    op.create_index("ix_refresh_tokens_session_id", "refresh_tokens", ["session_id"])
    op.create_index(
        "ix_refresh_tokens_sealed",
        "refresh_tokens",
        ["rotated_at"],
        postgresql_where=sa.text("child_seal IS NOT NULL"),
    )


def _mfa() -> None:
    op.create_table(
        "totp_credentials",
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("confirmed_at", TZ),
        sa.Column("last_used_step", sa.BigInteger),
        sa.PrimaryKeyConstraint("user_id", name="pk_totp_credentials"),
        _user_fk("totp_credentials"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("code_hash", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("used_at", TZ),
        sa.PrimaryKeyConstraint("user_id", "code_hash", name="pk_recovery_codes"),
        _user_fk("recovery_codes"),
    )


def _signing_keys() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.Text, nullable=False),
        sa.Column("private_key_pem", sa.Text, nullable=False),
        sa.Column("public_jwk", pg.JSONB, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("retired_at", TZ),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )
    # At most one active key: every active row has the same value of this expression.
    op.create_index(
        "uq_signing_keys_one_active",
        "signing_keys",
        [sa.text("(retired_at IS NULL)")],
        unique=True,
        postgresql_where=sa.text("retired_at IS NULL"),
    )


def _audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", UUID, nullable=False),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("actor_user_id", UUID),
        sa.Column("subject_user_id", UUID),
        sa.Column("ip", sa.Text),
        sa.Column("user_agent", sa.Text),
        sa.Column("details", pg.JSONB, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.UniqueConstraint("seq", name="uq_audit_log_seq"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_subject_at", "audit_log", ["subject_user_id", "at"])
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor_user_id", "at"])
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"])
    op.execute(
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
        """
    )


def downgrade() -> None:
    op.drop_table("audit_log")  # its trigger goes with it
    op.execute("DROP FUNCTION audit_log_append_only()")
    for table in (
        "signing_keys",
        "recovery_codes",
        "totp_credentials",
        "refresh_tokens",
        "auth_sessions",
        "one_time_tokens",
        "user_staff_roles",
        "users",
    ):
        op.drop_table(table)
