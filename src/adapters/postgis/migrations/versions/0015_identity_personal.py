"""Identity's personal fields sealed per person (issue 10; docs/adr/0025, docs/privacy.md).

- users: the address is sealed under the user's own key (`email_sealed`); logins, registration's
  one-account-per-address rule and lookups go through `email_hash`, a keyed hash (HMAC) of the
  lowercased address, unique. The row-level security policies that matched `email_key` against
  the caller's key now match `email_hash` (the unit of work sends the hash as the key).
- auth_sessions: the IP address and the user agent are sealed under the session's user.
- users may be deleted by the app role: erasure deletes the account (its tokens, sessions and
  MFA rows cascade).
- audit_log: the IP address and the user agent leave the append-only, hash-chained entry for a
  side table, `audit_log_clients`, sealed under the entry's subject (else its actor), with the
  entry's personal details (an address typed at a failed login, an operator's OS user). It is
  not chained, and may be deleted (retention, erasure). The chain's canonical encoding keeps
  two null slots where the IP address and the user agent were, so entries chained before this
  revision without them still verify.

A migration cannot seal (it does not hold the key-encryption key). There is no production data
yet, so this revision refuses to run over accounts or chained IP addresses instead of dropping
them; sessions' IP addresses and user agents (ephemeral) are dropped. The downgrade restores
the plaintext columns empty: it refuses to run over accounts (their addresses cannot be
unsealed here) and drops the sealed IP addresses and user agents of sessions and audit entries.

Messaging's policy `undeliverable_addresses_own` (0010) compared its addresses with
`users.email_key`: it is dropped here, and 0016 (messaging's personal fields) gives it back over
messaging's own hashed column.

Revision ID: 0015_identity_personal
Revises: 0014_person_keys
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.migrations.helpers import app_role, grant_app_role, row_level_security

revision: str = "0015_identity_personal"
down_revision: str | None = "0014_person_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
TZ = sa.DateTime(timezone=True)
FRESH = (
    "there is no production data yet: start from a fresh database"
    " (for the private development one: rm -r .data)"
)
USERS_REFUSAL = (
    "0015_identity_personal refused: table users holds {count} account(s) whose email addresses"
    " would have to be sealed under each person's key, which a migration cannot do (it does not"
    " hold the key-encryption key); " + FRESH
)
AUDIT_REFUSAL = (
    "0015_identity_personal refused: table audit_log holds {count} entr(y/ies) with an IP"
    " address or a user agent in clear, part of the hash chain: dropping them would break the"
    " chain, and a migration cannot seal them; " + FRESH
)
DOWNGRADE_REFUSAL = (
    "0015_identity_personal downgrade refused: table users holds {count} account(s) whose"
    " sealed email addresses cannot be opened by a migration"
)

# The policies of 0004 and 0010 that read users.email_key, as they were and as they become.
POLICIES_0004 = {
    "users": "id = app_user_id() OR email_key = app_key()",
    "user_staff_roles": "user_id = app_user_id()"
    " OR user_id IN (SELECT id FROM users WHERE email_key = app_key())",
}
POLICIES = {
    "users": "id = app_user_id() OR email_hash = app_key()",
    "user_staff_roles": "user_id = app_user_id()"
    " OR user_id IN (SELECT id FROM users WHERE email_hash = app_key())",
}
UNDELIVERABLE_OWN_0010 = (
    "CREATE POLICY undeliverable_addresses_own ON undeliverable_addresses FOR SELECT"
    " USING (address_key IN (SELECT email_key FROM users WHERE id = app_user_id()))"
)

# Who may read an entry's client data: whoever may read the entry (audit_log's own policy
# applies inside the subquery); anyone may add it with the entry; only admins and the
# service's maintenance jobs (retention, erasure) delete it.
CLIENT_POLICIES = (
    "CREATE POLICY audit_log_clients_append ON audit_log_clients FOR INSERT WITH CHECK (true)",
    "CREATE POLICY audit_log_clients_read ON audit_log_clients FOR SELECT"
    " USING (app_all_rows() OR audit_id IN (SELECT id FROM audit_log))",
    "CREATE POLICY audit_log_clients_remove ON audit_log_clients FOR DELETE USING (app_all_rows())",
)

# 0004's canonical encoding, with null where the IP address and user agent were.
CANONICAL = """
CREATE OR REPLACE FUNCTION audit_log_canonical(entry audit_log) RETURNS bytea
LANGUAGE sql STABLE STRICT AS $$
    SELECT convert_to(jsonb_build_array(
        entry.chain_seq, entry.seq, entry.id,
        to_char(entry.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        entry.action, entry.actor_user_id, entry.subject_user_id, NULL, NULL,
        entry.details
    )::text, 'UTF8')
$$
"""
CANONICAL_0004 = """
CREATE OR REPLACE FUNCTION audit_log_canonical(entry audit_log) RETURNS bytea
LANGUAGE sql STABLE STRICT AS $$
    SELECT convert_to(jsonb_build_array(
        entry.chain_seq, entry.seq, entry.id,
        to_char(entry.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        entry.action, entry.actor_user_id, entry.subject_user_id, entry.ip, entry.user_agent,
        entry.details
    )::text, 'UTF8')
$$
"""


def upgrade() -> None:
    _refuse(USERS_REFUSAL, "SELECT count(*) FROM users")
    _refuse(
        AUDIT_REFUSAL,
        "SELECT count(*) FROM audit_log WHERE ip IS NOT NULL OR user_agent IS NOT NULL",
    )
    _drop_policies()
    op.drop_constraint("ck_users_email_key_lowercase", "users", type_="check")
    op.drop_constraint("uq_users_email_key", "users", type_="unique")
    op.drop_column("users", "email_key")
    op.drop_column("users", "email")
    op.add_column("users", sa.Column("email_sealed", sa.LargeBinary, nullable=False))
    op.add_column("users", sa.Column("email_hash", sa.Text, nullable=False))
    op.create_unique_constraint("uq_users_email_hash", "users", ["email_hash"])
    for table in ("auth_sessions", "audit_log"):
        op.drop_column(table, "user_agent")
        op.drop_column(table, "ip")
    for column in ("ip_sealed", "user_agent_sealed"):
        op.add_column("auth_sessions", sa.Column(column, sa.LargeBinary))
    op.execute(CANONICAL)
    _audit_log_clients()
    _create_policies(POLICIES)
    # Erasure deletes the account; its tokens, sessions and MFA rows go with it (ON DELETE
    # CASCADE runs as the tables' owner).
    grant_app_role({"users": "DELETE"})


def _audit_log_clients() -> None:
    op.create_table(
        "audit_log_clients",
        sa.Column("audit_id", UUID, nullable=False),  # audit_log.id; no foreign key (see tables)
        sa.Column("at", TZ, nullable=False),
        sa.Column("ip_sealed", sa.LargeBinary),
        sa.Column("user_agent_sealed", sa.LargeBinary),
        sa.Column("details_sealed", sa.LargeBinary),
        sa.PrimaryKeyConstraint("audit_id", name="pk_audit_log_clients"),
    )
    op.create_index("ix_audit_log_clients_at", "audit_log_clients", ["at"])
    row_level_security(["audit_log_clients"], CLIENT_POLICIES)
    grant_app_role({"audit_log_clients": "SELECT, INSERT, DELETE"})


def downgrade() -> None:
    _refuse(DOWNGRADE_REFUSAL, "SELECT count(*) FROM users")
    role = app_role()
    if role is not None:
        op.execute(f"REVOKE DELETE ON users FROM {role}")
    op.drop_table("audit_log_clients")  # sealed IP addresses and user agents are lost
    _drop_policies()
    for table in ("auth_sessions", "audit_log"):
        op.add_column(table, sa.Column("ip", sa.Text))
        op.add_column(table, sa.Column("user_agent", sa.Text))
    op.execute(CANONICAL_0004)
    for column in ("ip_sealed", "user_agent_sealed"):
        op.drop_column("auth_sessions", column)
    op.drop_constraint("uq_users_email_hash", "users", type_="unique")
    op.drop_column("users", "email_hash")
    op.drop_column("users", "email_sealed")
    op.add_column("users", sa.Column("email", sa.Text, nullable=False))
    op.add_column("users", sa.Column("email_key", sa.Text, nullable=False))
    op.create_unique_constraint("uq_users_email_key", "users", ["email_key"])
    op.create_check_constraint("ck_users_email_key_lowercase", "users", "email_key = lower(email)")
    _create_policies(POLICIES_0004)
    op.execute(UNDELIVERABLE_OWN_0010)


def _refuse(message: str, count_query: str) -> None:
    count = op.get_bind().execute(sa.text(count_query)).scalar_one()
    if count:
        raise CommandError(message.format(count=count))


def _drop_policies() -> None:
    op.execute("DROP POLICY IF EXISTS undeliverable_addresses_own ON undeliverable_addresses")
    for table in POLICIES:
        op.execute(f"DROP POLICY {table}_caller ON {table}")


def _create_policies(policies: dict[str, str]) -> None:
    for table, visible in policies.items():
        op.execute(f"CREATE POLICY {table}_caller ON {table} USING (app_all_rows() OR {visible})")
