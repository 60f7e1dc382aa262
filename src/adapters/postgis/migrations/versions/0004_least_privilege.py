"""Least privilege: the application's role gets row privileges only, row-level security
keeps each person's rows to that person, and the audit log is a hash chain.

The role that runs this migration owns the schema. The application connects as another role
(`app_role`, passed by `adapters.postgis.migrate`; docs/operations.md) that may read and write
rows, but never TRUNCATE, never change or delete an audit entry, never alter a table or a
trigger. A later migration that adds a table grants that role what it needs there.

Each audit entry carries its chain position, the hash of the entry before it and its own hash
(SHA-256 over the previous hash and a canonical encoding of the entry). A deferred constraint
trigger chains the entries of a transaction when it commits, under a transaction-level advisory
lock, so concurrent appends form one chain and the lock is held only for the commit.
`reserva audit verify` walks the chain.

Row-level security is a second wall behind the use cases' checks: on the tables holding a
person's or a provider's rows, the app role sees and writes only what the caller of the current
transaction may reach. The unit of work sets the caller in transaction-local settings (`app.*`,
see adapters/postgis/unit_of_work.py). The owner is not subject (ENABLE, not FORCE): it runs the
migrations, owns the narrow views and SECURITY DEFINER functions below, which expose to anyone
only what availability needs (a booking's resource, range, seats and status, never who booked).

Revision ID: 0004_least_privilege
Revises: 0003_secrets_at_rest
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from adapters.postgis.migrate import APP_ROLE, APP_ROLE_ATTRIBUTE

revision: str = "0004_least_privilege"
down_revision: str | None = "0003_secrets_at_rest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READ_WRITE = "SELECT, INSERT, UPDATE"
REPLACED = "SELECT, INSERT, UPDATE, DELETE"  # rows a use case replaces or removes
# What the application does to each table. A table not named here (one made by a revision
# merged before this one) gets REPLACED; alembic_version gets nothing.
PRIVILEGES = {
    "outbox": READ_WRITE,
    "providers": READ_WRITE,
    "places": READ_WRITE,
    "resources": READ_WRITE,
    "opening_hours": REPLACED,
    "opening_exceptions": REPLACED,
    "opening_exception_intervals": REPLACED,
    "offerings": READ_WRITE,
    "offering_resources": READ_WRITE,
    "occurrences": READ_WRITE,
    "bookings": READ_WRITE,
    "users": READ_WRITE,
    "user_staff_roles": "SELECT, INSERT, DELETE",
    "one_time_tokens": READ_WRITE,
    "auth_sessions": READ_WRITE,
    "refresh_tokens": READ_WRITE,
    "totp_credentials": REPLACED,
    "recovery_codes": REPLACED,
    "signing_keys": READ_WRITE,
    "audit_log": "SELECT, INSERT",
}
NOT_GRANTED = ("alembic_version",)

# Every public table this schema made (extensions' own tables, e.g. spatial_ref_sys, excluded).
_OWN_TABLES = """
    SELECT c.relname FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
      AND NOT EXISTS (
        SELECT FROM pg_depend d
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY c.relname
"""

CHAIN_COLUMNS = "'{chain_seq,prev_hash,hash}'::text[]"

CANONICAL = """
CREATE FUNCTION audit_log_canonical(entry audit_log) RETURNS bytea
LANGUAGE sql STABLE STRICT AS $$
    SELECT convert_to(jsonb_build_array(
        entry.chain_seq, entry.seq, entry.id,
        to_char(entry.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        entry.action, entry.actor_user_id, entry.subject_user_id, entry.ip, entry.user_agent,
        entry.details
    )::text, 'UTF8')
$$
"""
CHAIN_ENTRY = """
CREATE FUNCTION audit_log_chain_entry(entry_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    head audit_log%ROWTYPE;
    entry audit_log%ROWTYPE;
BEGIN
    -- One chainer at a time, until this transaction ends: the next one sees this head.
    PERFORM pg_advisory_xact_lock(hashtext('audit_log_chain'));
    SELECT * INTO head FROM audit_log WHERE chain_seq IS NOT NULL
        ORDER BY chain_seq DESC LIMIT 1;
    SELECT * INTO entry FROM audit_log WHERE id = entry_id AND chain_seq IS NULL;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    entry.chain_seq := coalesce(head.chain_seq, 0) + 1;
    entry.prev_hash := coalesce(head.hash, decode(repeat('00', 32), 'hex'));  -- genesis
    entry.hash := sha256(entry.prev_hash || audit_log_canonical(entry));
    UPDATE audit_log
        SET chain_seq = entry.chain_seq, prev_hash = entry.prev_hash, hash = entry.hash
        WHERE id = entry_id;
END
$$
"""
CHAIN_TRIGGER_FUNCTION = """
CREATE FUNCTION audit_log_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM audit_log_chain_entry(NEW.id);
    RETURN NULL;
END
$$
"""
CHAIN_TRIGGER = """
CREATE CONSTRAINT TRIGGER audit_log_chain AFTER INSERT ON audit_log
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_log_chain()
"""
# Refuses every UPDATE and DELETE but the one that chains an entry not chained yet.
APPEND_ONLY = f"""
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.chain_seq IS NULL AND NEW.chain_seq IS NOT NULL
       AND to_jsonb(OLD) - {CHAIN_COLUMNS} = to_jsonb(NEW) - {CHAIN_COLUMNS} THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
APPEND_ONLY_0002 = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


# The caller of the current transaction; none set reads as nobody.
CALLER_FUNCTIONS = {
    "app_user_id() RETURNS uuid":
        "nullif(current_setting('app.user_id', true), '')::uuid",
    "app_provider_ids() RETURNS uuid[]":
        "coalesce(nullif(current_setting('app.provider_ids', true), ''), '{}')::uuid[]",
    "app_all_rows() RETURNS boolean":
        "coalesce(current_setting('app.all_rows', true), '') = 'on'",
    "app_key() RETURNS text":
        "nullif(current_setting('app.key', true), '')",
}  # fmt: skip
# The session of the refresh token presented as the key. SECURITY DEFINER: auth_sessions'
# policy cannot read refresh_tokens through its policy, which reads auth_sessions.
KEY_SESSION = """
CREATE FUNCTION app_key_session() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT session_id FROM refresh_tokens WHERE token_hash = app_key()
$$
"""
EVERYONE_OR = "app_all_rows() OR "
POLICIES = {
    "bookings": "customer_id = app_user_id() OR provider_id = ANY (app_provider_ids())",
    "users": "id = app_user_id() OR email_key = app_key()",
    "user_staff_roles": "user_id = app_user_id()"
    " OR user_id IN (SELECT id FROM users WHERE email_key = app_key())",
    "one_time_tokens": "user_id = app_user_id() OR token_hash = app_key()",
    "auth_sessions": "user_id = app_user_id() OR id = app_key_session()",
    "refresh_tokens": "token_hash = app_key()"
    " OR session_id IN (SELECT id FROM auth_sessions WHERE user_id = app_user_id())",
    "totp_credentials": "user_id = app_user_id()",
    "recovery_codes": "user_id = app_user_id()",
}
# Anyone may append to the audit log; only the people an entry names (and admins) read it.
AUDIT_POLICIES = (
    "CREATE POLICY audit_log_append ON audit_log FOR INSERT WITH CHECK (true)",
    "CREATE POLICY audit_log_read ON audit_log FOR SELECT"
    " USING (app_all_rows() OR app_user_id() IN (actor_user_id, subject_user_id))",
)
# What availability needs of everyone's bookings: never who booked, or at what price.
OCCUPANCY_VIEW = """
CREATE VIEW booking_occupancy AS
    SELECT id, resource_id, occurrence_id, blocked, seats, status, hold_expires_at FROM bookings
"""
EXPIRE_HOLDS = """
CREATE FUNCTION expire_overlapping_holds(held_resource uuid, span tstzrange, at timestamptz)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    UPDATE bookings SET status = 'expired'
    WHERE id IN (
        SELECT id FROM bookings
        WHERE resource_id = held_resource AND status = 'held' AND hold_expires_at <= at
          AND blocked && span
        ORDER BY id FOR UPDATE)
$$
"""
RLS_TABLES = (*POLICIES, "audit_log")


def upgrade() -> None:
    _chain_audit_log()
    _row_level_security()
    _grant_app_role()


def downgrade() -> None:
    role = _app_role()
    if role is not None:
        for table in _own_tables():
            op.execute(f"REVOKE ALL ON {table} FROM {role}")
    op.execute("DROP FUNCTION expire_overlapping_holds(uuid, tstzrange, timestamptz)")
    op.execute("DROP VIEW booking_occupancy")
    for table in RLS_TABLES:
        for policy in _policy_names(table):
            op.execute(f"DROP POLICY {policy} ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION app_key_session()")
    for signature in CALLER_FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature.split(' RETURNS')[0]}")
    op.execute("DROP TRIGGER audit_log_chain ON audit_log")
    op.execute("DROP FUNCTION audit_log_chain()")
    op.execute("DROP FUNCTION audit_log_chain_entry(uuid)")
    op.execute("DROP FUNCTION audit_log_canonical(audit_log)")
    op.execute(APPEND_ONLY_0002)
    op.drop_constraint("uq_audit_log_chain_seq", "audit_log")
    for column in ("hash", "prev_hash", "chain_seq"):
        op.drop_column("audit_log", column)


def _chain_audit_log() -> None:
    op.add_column("audit_log", sa.Column("chain_seq", sa.BigInteger))
    op.add_column("audit_log", sa.Column("prev_hash", sa.LargeBinary))
    op.add_column("audit_log", sa.Column("hash", sa.LargeBinary))
    op.create_unique_constraint("uq_audit_log_chain_seq", "audit_log", ["chain_seq"])
    op.execute(APPEND_ONLY)
    op.execute(CANONICAL)
    op.execute(CHAIN_ENTRY)
    op.execute("REVOKE EXECUTE ON FUNCTION audit_log_chain_entry(uuid) FROM PUBLIC")
    op.execute(CHAIN_TRIGGER_FUNCTION)
    op.execute(CHAIN_TRIGGER)
    # Entries written before this revision join the chain in the order they were written.
    op.execute(
        "SELECT audit_log_chain_entry(id) FROM (SELECT id FROM audit_log ORDER BY seq) AS entries"
    )


def _row_level_security() -> None:
    for signature, body in CALLER_FUNCTIONS.items():
        op.execute(f"CREATE FUNCTION {signature} LANGUAGE sql STABLE AS $$ SELECT {body} $$")
    op.execute(KEY_SESSION)
    for table, visible in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_caller ON {table} USING ({EVERYONE_OR}{visible})")
    op.execute("ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY")
    for policy in AUDIT_POLICIES:
        op.execute(policy)
    op.execute(OCCUPANCY_VIEW)
    op.execute(EXPIRE_HOLDS)
    op.execute("REVOKE EXECUTE ON FUNCTION app_key_session() FROM PUBLIC")
    op.execute(
        "REVOKE EXECUTE ON FUNCTION expire_overlapping_holds(uuid, tstzrange, timestamptz)"
        " FROM PUBLIC"
    )


def _grant_app_role() -> None:
    role = _app_role()
    if role is None:
        return
    for table in _own_tables():
        if table in NOT_GRANTED:
            continue
        op.execute(f"GRANT {PRIVILEGES.get(table, REPLACED)} ON {table} TO {role}")
    op.execute(f"GRANT SELECT ON booking_occupancy TO {role}")
    for function in (
        "app_key_session()",
        "expire_overlapping_holds(uuid, tstzrange, timestamptz)",
    ):
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {role}")


def _policy_names(table: str) -> list[str]:
    query = sa.text("SELECT policyname FROM pg_policies WHERE tablename = :t")
    return list(op.get_bind().execute(query, {"t": table}).scalars())


def _app_role() -> str | None:
    """The app role, quoted; None when the app connects as the migrating role itself (a single
    role, e.g. an old setup where both are the superuser: it has every privilege already)."""
    name: str = context.config.attributes.get(APP_ROLE_ATTRIBUTE, APP_ROLE)
    connection = op.get_bind()
    if name == connection.execute(sa.text("SELECT current_user")).scalar_one():
        return None
    found = connection.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name})
    if found.first() is None:
        raise RuntimeError(
            f"the application's database role {name!r} does not exist: create it first "
            f"(CREATE ROLE {name} LOGIN PASSWORD '...'; see docs/operations.md)"
        )
    quoted: str = connection.execute(sa.text("SELECT quote_ident(:r)"), {"r": name}).scalar_one()
    return quoted


def _own_tables() -> list[str]:
    return list(op.get_bind().execute(sa.text(_OWN_TABLES)).scalars())
