"""Tables of the identity context (SQLAlchemy Core), kept apart from the attrs domain.

Keep this file and the migrations (0002_identity, 0003_secrets_at_rest, 0004_least_privilege,
0015_identity_personal) in step. Secrets are stored sealed by the keyring (TOTP secrets, signing
keys' private halves); personal values (`*_sealed`: email addresses, IP addresses, user agents)
sealed under their person's key (core.shared.personal, docs/privacy.md). Integrity the database
enforces: one account per lowercased email (the unique keyed hash `email_hash`), one active
signing key, single-use tokens and codes through conditional updates, and an append-only audit
log (a trigger refuses UPDATE and DELETE) whose client data lives apart (`audit_log_clients`).
Provider ids of staff roles are not foreign keys: contexts keep their schemas apart.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.metadata import metadata, one_of

UUID = pg.UUID(as_uuid=True)
TOKEN_PURPOSES = ("email_verification", "password_reset", "mfa_challenge")
AALS = ("aal1", "aal2")


def _when(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user_fk(*, primary_key: bool = False, index: bool = False) -> sa.Column[object]:
    return sa.Column(
        "user_id",
        UUID,
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
        index=index,
    )


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    _when("created_at", nullable=False),
    _when("email_verified_at"),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    _when("locked_at"),
    # The address as typed, sealed under the user's key (field "identity.email"), and the keyed
    # hash of its lowercased form (same field): logins, lookups, one account per address.
    sa.Column("email_sealed", sa.LargeBinary, nullable=False),
    sa.Column("email_hash", sa.Text, nullable=False, unique=True),
)

user_staff_roles = sa.Table(
    "user_staff_roles",
    metadata,
    _user_fk(primary_key=True),
    sa.Column("provider_id", UUID, primary_key=True),
)

one_time_tokens = sa.Table(
    "one_time_tokens",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    _user_fk(index=True),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    _when("created_at", nullable=False),
    _when("expires_at", nullable=False),
    _when("used_at"),
    sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint(one_of("purpose", TOKEN_PURPOSES), name="purpose"),
)

auth_sessions = sa.Table(
    "auth_sessions",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    _user_fk(index=True),
    _when("created_at", nullable=False),
    _when("last_used_at", nullable=False),
    _when("expires_at", nullable=False),
    sa.Column("aal", sa.Text, nullable=False),
    sa.Column("amr", pg.ARRAY(sa.Text), nullable=False),
    _when("revoked_at"),
    sa.CheckConstraint(one_of("aal", AALS), name="aal"),
    # Sealed under the session's user ("identity.session_ip", "identity.session_user_agent").
    sa.Column("ip_sealed", sa.LargeBinary),
    sa.Column("user_agent_sealed", sa.LargeBinary),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column(
        "session_id",
        UUID,
        sa.ForeignKey("auth_sessions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("parent_id", UUID),
    _when("created_at", nullable=False),
    _when("expires_at", nullable=False),
    _when("rotated_at"),
    sa.Column("child_id", UUID),
    sa.Column("child_seal", sa.LargeBinary),
)
sa.Index(
    "ix_refresh_tokens_sealed",
    refresh_tokens.c.rotated_at,
    postgresql_where=refresh_tokens.c.child_seal.is_not(None),
)

totp_credentials = sa.Table(
    "totp_credentials",
    metadata,
    _user_fk(primary_key=True),
    sa.Column("secret_sealed", sa.LargeBinary, nullable=False),  # core.shared.keyring.Sealed
    _when("created_at", nullable=False),
    _when("confirmed_at"),
    sa.Column("last_used_step", sa.BigInteger),
)

recovery_codes = sa.Table(
    "recovery_codes",
    metadata,
    _user_fk(primary_key=True),
    sa.Column("code_hash", sa.Text, primary_key=True),
    _when("created_at", nullable=False),
    _when("used_at"),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.Text, primary_key=True),
    sa.Column("private_key_sealed", sa.LargeBinary, nullable=False),  # PKCS#8 PEM, sealed
    sa.Column("public_jwk", pg.JSONB, nullable=False),
    _when("created_at", nullable=False),
    _when("retired_at"),
    # At most one active key: every active row has the same value of this expression.
    sa.Index(
        "uq_signing_keys_one_active",
        sa.text("(retired_at IS NULL)"),
        unique=True,
        postgresql_where=sa.text("retired_at IS NULL"),
    ),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
    _when("at", nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    # No foreign keys: entries outlive the users they mention, and nothing may rewrite them.
    sa.Column("actor_user_id", UUID),
    sa.Column("subject_user_id", UUID),
    sa.Column("details", pg.JSONB, nullable=False),  # never personal values: see below
    # The hash chain (migration 0004): set by a trigger when the entry's transaction commits.
    sa.Column("chain_seq", sa.BigInteger, unique=True),
    sa.Column("prev_hash", sa.LargeBinary),
    sa.Column("hash", sa.LargeBinary),
)
# Retention sweeps (migration 0019): ended sessions, spent tokens, abandoned accounts.
sa.Index("ix_auth_sessions_expires_at", auth_sessions.c.expires_at)
sa.Index(
    "ix_auth_sessions_revoked_at",
    auth_sessions.c.revoked_at,
    postgresql_where=auth_sessions.c.revoked_at.is_not(None),
)
sa.Index("ix_one_time_tokens_expires_at", one_time_tokens.c.expires_at)
sa.Index(
    "ix_one_time_tokens_used_at",
    one_time_tokens.c.used_at,
    postgresql_where=one_time_tokens.c.used_at.is_not(None),
)
sa.Index(
    "ix_users_unverified_created",
    users.c.created_at,
    postgresql_where=users.c.email_verified_at.is_(None),
)
sa.Index("ix_audit_log_at", audit_log.c.at)
sa.Index("ix_audit_log_subject_at", audit_log.c.subject_user_id, audit_log.c.at)
sa.Index("ix_audit_log_actor_at", audit_log.c.actor_user_id, audit_log.c.at)
sa.Index("ix_audit_log_action_at", audit_log.c.action, audit_log.c.at)

# What an audit entry holds about a person, apart from the chained entry so that it can be deleted
# (retention, erasure) without breaking the chain; sealed under the entry's subject, else its
# actor ("identity.audit_ip", "identity.audit_user_agent", "identity.audit_details": the entry's
# personal details as a JSON object). No foreign key: nothing may hold an audit entry back.
audit_log_clients = sa.Table(
    "audit_log_clients",
    metadata,
    sa.Column("audit_id", UUID, primary_key=True),
    _when("at", nullable=False),
    sa.Column("ip_sealed", sa.LargeBinary),
    sa.Column("user_agent_sealed", sa.LargeBinary),
    sa.Column("details_sealed", sa.LargeBinary),
)
sa.Index("ix_audit_log_clients_at", audit_log_clients.c.at)

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
"""


# `metadata.create_all` (tests) gets the trigger too; migrations create it explicitly.
@sa.event.listens_for(audit_log, "after_create")
def _create_append_only_trigger(target: sa.Table, connection: sa.Connection, **_: object) -> None:
    connection.execute(sa.text(APPEND_ONLY_FUNCTION))
    connection.execute(sa.text(APPEND_ONLY_TRIGGER))


@sa.event.listens_for(audit_log, "after_drop")
def _drop_append_only_function(target: sa.Table, connection: sa.Connection, **_: object) -> None:
    connection.execute(sa.text("DROP FUNCTION IF EXISTS audit_log_append_only()"))
