"""Payments context: payments, refunds, offering terms, the double-entry ledger, the processor
events inbox, providers' processor accounts and customers' processor references.

Least privilege as in 0004: the app role gets only what the repositories do (the ledger is
SELECT, INSERT: nothing edits an entry), and row-level security keeps a payment and its refunds
to its customer, the staff of its provider and admins or maintenance jobs. Anyone may append to
the ledger and to the inbox (like the audit log); reading the ledger is for admins,
maintenance and the staff of the provider a transaction concerns, the inbox for maintenance.
Offering terms are public like the catalog; processor accounts are readable by anyone paying a
provider and written by its staff or maintenance.

A deferred constraint trigger refuses, at commit, a ledger transaction whose entries do not sum
to zero in one currency. The velocity rules count failures across every customer, which row-
level security would hide: `payment_velocity` (owner's rights) answers the counts, never rows.
Money audit entries go into the one audit_log of 0004 (its `action` is free text).

Revision ID: 0006_payments
Revises: 0005_booking_cancellations
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.migrations.helpers import check, grant_app_role, row_level_security

revision: str = "0006_payments"
down_revision: str | None = "0005_booking_cancellations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
TZ = sa.DateTime(timezone=True)
FAILED = "status = 'failed'"

PRIVILEGES = {
    "payments": "SELECT, INSERT, UPDATE",
    "refunds": "SELECT, INSERT, UPDATE",
    "offering_terms": "SELECT, INSERT",
    "ledger_transactions": "SELECT, INSERT",
    "ledger_entries": "SELECT, INSERT",
    "processor_events": "SELECT, INSERT, UPDATE",
    "provider_accounts": "SELECT, INSERT, UPDATE",
    "processor_customers": "SELECT, INSERT, UPDATE",
}
STAFF = "provider_id = ANY (app_provider_ids())"
POLICIES = (
    "CREATE POLICY payments_caller ON payments"
    f" USING (app_all_rows() OR customer_id = app_user_id() OR {STAFF})",
    # The subquery sees only the payments the caller may see (their policy applies).
    "CREATE POLICY refunds_caller ON refunds"
    " USING (app_all_rows() OR payment_id IN (SELECT id FROM payments))",
    "CREATE POLICY processor_customers_caller ON processor_customers"
    " USING (app_all_rows() OR user_id = app_user_id())",
    "CREATE POLICY provider_accounts_read ON provider_accounts FOR SELECT USING (true)",
    "CREATE POLICY provider_accounts_add ON provider_accounts FOR INSERT"
    f" WITH CHECK (app_all_rows() OR {STAFF})",
    "CREATE POLICY provider_accounts_change ON provider_accounts FOR UPDATE"
    f" USING (app_all_rows() OR {STAFF})",
    "CREATE POLICY ledger_transactions_append ON ledger_transactions FOR INSERT WITH CHECK (true)",
    "CREATE POLICY ledger_transactions_read ON ledger_transactions FOR SELECT"
    f" USING (app_all_rows() OR {STAFF})",
    "CREATE POLICY ledger_entries_append ON ledger_entries FOR INSERT WITH CHECK (true)",
    "CREATE POLICY ledger_entries_read ON ledger_entries FOR SELECT"
    " USING (app_all_rows() OR transaction_id IN (SELECT id FROM ledger_transactions))",
    "CREATE POLICY processor_events_record ON processor_events FOR INSERT WITH CHECK (true)",
    "CREATE POLICY processor_events_maintenance ON processor_events USING (app_all_rows())",
)
RLS_TABLES = tuple(table for table in PRIVILEGES if table != "offering_terms")

BALANCED_FUNCTION = """
CREATE FUNCTION ledger_balanced() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    txn uuid;
    entries bigint;
    total numeric;
    currencies bigint;
    strangers bigint;
BEGIN
    IF TG_TABLE_NAME = 'ledger_entries' THEN
        txn := NEW.transaction_id;
    ELSE
        txn := NEW.id;
    END IF;
    SELECT count(*), coalesce(sum(e.minor), 0), count(DISTINCT e.currency),
           count(*) FILTER (WHERE e.provider_id IS DISTINCT FROM t.provider_id
                                  AND e.provider_id IS NOT NULL)
        INTO entries, total, currencies, strangers
        FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE e.transaction_id = txn;
    IF entries = 0 OR total <> 0 OR currencies <> 1 OR strangers <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: % entries summing to % in % '
            'currencies, % of another provider', txn, entries, total, currencies, strangers
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$
"""
VELOCITY_FUNCTION = """
CREATE FUNCTION payment_velocity(customer uuid, fingerprint text, address text, since timestamptz)
RETURNS TABLE (failed_by_account bigint, failed_by_card bigint, failed_by_ip bigint,
               payments_by_account bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT
        (SELECT count(*) FROM payments
         WHERE customer_id = customer AND status = 'failed' AND updated_at >= since),
        (SELECT count(*) FROM payments
         WHERE card_fingerprint = fingerprint AND status = 'failed' AND updated_at >= since),
        (SELECT count(*) FROM payments
         WHERE client_ip = address AND status = 'failed' AND updated_at >= since),
        (SELECT count(*) FROM payments WHERE customer_id = customer AND created_at >= since)
$$
"""
VELOCITY = "payment_velocity(uuid, text, text, timestamptz)"


def _one_of(column: str, values: str) -> str:
    return f"{column} IN ({values})"


def upgrade() -> None:
    _payments()
    _refunds()
    _terms()
    _ledger()
    _processor()
    _row_level_security()
    _grant_app_role()


def _payments() -> None:
    op.create_table(
        "payments",
        sa.Column("id", UUID, nullable=False),
        sa.Column("booking_id", UUID, nullable=False),
        sa.Column("customer_id", UUID, nullable=False),
        sa.Column("provider_id", UUID, nullable=False),
        sa.Column("part", sa.Text, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("commission_minor", sa.BigInteger, nullable=False),
        sa.Column("terms", pg.JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("intent_id", sa.Text),
        sa.Column("processor_account", sa.Text, nullable=False),
        sa.Column("captured_minor", sa.BigInteger, nullable=False),
        sa.Column("refunded_minor", sa.BigInteger, nullable=False),
        sa.Column("fee_minor", sa.BigInteger),
        sa.Column("risk", pg.JSONB),
        sa.Column("card_fingerprint", sa.Text),
        sa.Column("payment_method_id", sa.Text),
        sa.Column("failure", sa.Text),
        sa.Column("review", sa.Text),
        sa.Column("review_reason", sa.Text),
        sa.Column("booking_outcome", sa.Text),
        sa.Column("due_at", TZ),
        sa.Column("client_ip", sa.Text),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.UniqueConstraint("idempotency_key", name="uq_payments_idempotency_key"),
        sa.UniqueConstraint("intent_id", name="uq_payments_intent_id"),
        check("payments", "part", _one_of("part", "'full', 'deposit', 'balance'")),
        check(
            "payments",
            "status",
            _one_of(
                "status",
                "'created', 'requires_action', 'processing', 'succeeded', 'failed', 'cancelled'",
            ),
        ),
        check("payments", "review", _one_of("review", "'pending', 'approved', 'rejected'")),
        check(
            "payments",
            "booking_outcome",
            _one_of("booking_outcome", "'confirmed', 'slot_lost', 'not_needed'"),
        ),
        check("payments", "amount", "amount_minor > 0"),
        check("payments", "commission", "commission_minor BETWEEN 0 AND amount_minor"),
        check("payments", "refunded", "refunded_minor BETWEEN 0 AND captured_minor"),
        check("payments", "fee", "fee_minor >= 0"),
        check("payments", "version", "version >= 0"),
    )
    op.create_index("ix_payments_booking", "payments", ["booking_id", "created_at", "id"])
    op.create_index(
        "ix_payments_customer_newest",
        "payments",
        ["customer_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    partial = {
        "ix_payments_unsettled":
            (["created_at"], "status = 'succeeded' AND booking_outcome IS NULL"),
        "ix_payments_balances_due": (["due_at"], "part = 'balance' AND status = 'created'"),
        "ix_payments_in_review": (["created_at"], "review = 'pending'"),
        "ix_payments_failed_card": (["card_fingerprint", "updated_at"], FAILED),
        "ix_payments_failed_ip": (["client_ip", "updated_at"], FAILED),
    }  # fmt: skip
    for name, (columns, where) in partial.items():
        op.create_index(name, "payments", columns, postgresql_where=sa.text(where))


def _refunds() -> None:
    op.create_table(
        "refunds",
        sa.Column("id", UUID, nullable=False),
        sa.Column("payment_id", UUID, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("request_key", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("processor_refund_id", sa.Text),
        sa.Column("failure", sa.Text),
        sa.Column("requested_by", UUID),
        sa.Column("resolved_by", UUID),
        sa.Column("note", sa.Text),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_refunds_payment_id_payments"
        ),
        sa.UniqueConstraint("processor_refund_id", name="uq_refunds_processor_refund_id"),
        sa.UniqueConstraint("payment_id", "request_key", name="uq_refunds_request"),
        check(
            "refunds",
            "reason",
            _one_of("reason", "'cancellation', 'slot_lost', 'review_rejected', 'goodwill'"),
        ),
        check(
            "refunds",
            "status",
            _one_of("status", "'requested', 'pending', 'succeeded', 'failed'"),
        ),
        check("refunds", "amount", "amount_minor > 0"),
        check("refunds", "attempt", "attempt >= 1"),
    )
    op.create_index("ix_refunds_status_updated", "refunds", ["status", "updated_at"])


def _terms() -> None:
    op.create_table(
        "offering_terms",
        sa.Column("offering_id", UUID, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("effective_from", TZ, nullable=False),
        sa.Column("terms", pg.JSONB, nullable=False),
        sa.PrimaryKeyConstraint("offering_id", "version", name="pk_offering_terms"),
        check("offering_terms", "version", "version >= 1"),
    )


def _ledger() -> None:
    op.create_table(
        "ledger_transactions",
        sa.Column("id", UUID, nullable=False),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("payment_id", UUID),
        sa.Column("refund_id", UUID),
        sa.Column("source", sa.Text),
        sa.Column("provider_id", UUID),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_transactions"),
        sa.UniqueConstraint("seq", name="uq_ledger_transactions_seq"),
        sa.UniqueConstraint("key", name="uq_ledger_transactions_key"),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_ledger_transactions_payment_id_payments"
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name="fk_ledger_transactions_refund_id_refunds"
        ),
    )
    op.create_index("ix_ledger_transactions_payment_id", "ledger_transactions", ["payment_id"])
    op.create_index("ix_ledger_transactions_at", "ledger_transactions", ["at"])
    op.create_index(
        "ix_ledger_transactions_provider_at", "ledger_transactions", ["provider_id", "at"]
    )
    op.create_table(
        "ledger_entries",
        sa.Column("transaction_id", UUID, nullable=False),
        sa.Column("position", sa.SmallInteger, nullable=False),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("provider_id", UUID),
        sa.Column("minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", "position", name="pk_ledger_entries"),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name="fk_ledger_entries_transaction_id_ledger_transactions",
        ),
        check(
            "ledger_entries",
            "account",
            _one_of(
                "account",
                "'customer', 'platform_revenue', 'provider_payable', 'processor_fees',"
                " 'provider_paid_out'",
            ),
        ),
        check(
            "ledger_entries",
            "provider",
            "(account IN ('provider_payable', 'provider_paid_out')) = (provider_id IS NOT NULL)",
        ),
        check("ledger_entries", "minor", "minor <> 0"),
    )
    op.create_index("ix_ledger_entries_provider_id", "ledger_entries", ["provider_id"])
    op.execute(BALANCED_FUNCTION)
    for table in ("ledger_transactions", "ledger_entries"):
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_balanced AFTER INSERT ON {table}"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_balanced()"
        )


def _processor() -> None:
    op.create_table(
        "processor_events",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("object_id", sa.Text, nullable=False),
        sa.Column("account_ref", sa.Text),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("processed_at", TZ),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_processor_events"),
    )
    op.create_index(
        "ix_processor_events_pending",
        "processor_events",
        ["received_at", "id"],
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.create_table(
        "provider_accounts",
        sa.Column("provider_id", UUID, nullable=False),
        sa.Column("account_ref", sa.Text),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("charges_enabled", sa.Boolean, nullable=False),
        sa.Column("payouts_enabled", sa.Boolean, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("provider_id", name="pk_provider_accounts"),
        sa.UniqueConstraint("account_ref", name="uq_provider_accounts_account_ref"),
        sa.UniqueConstraint("idempotency_key", name="uq_provider_accounts_idempotency_key"),
    )
    op.create_table(
        "processor_customers",
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("customer_ref", sa.Text),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_processor_customers"),
        sa.UniqueConstraint("customer_ref", name="uq_processor_customers_customer_ref"),
        sa.UniqueConstraint("idempotency_key", name="uq_processor_customers_idempotency_key"),
    )


def _row_level_security() -> None:
    row_level_security(RLS_TABLES, POLICIES)
    op.execute(VELOCITY_FUNCTION)
    op.execute(f"REVOKE EXECUTE ON FUNCTION {VELOCITY} FROM PUBLIC")


def _grant_app_role() -> None:
    role = grant_app_role(PRIVILEGES)
    if role is not None:
        op.execute(f"GRANT EXECUTE ON FUNCTION {VELOCITY} TO {role}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {VELOCITY}")
    for table in reversed(PRIVILEGES):  # policies, triggers and grants go with the tables
        op.drop_table(table)
    op.execute("DROP FUNCTION ledger_balanced()")
