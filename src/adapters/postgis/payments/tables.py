"""Tables of the payments context (SQLAlchemy Core), kept apart from the attrs domain.

Keep this file and migration 0006_payments in step (test_payments_migration.py compares the
catalogs). Money is minor units (BIGINT) beside an ISO currency code. What the database
enforces: a refund never takes a payment past what it captured (a CHECK that the one
conditional UPDATE of `reserve_refund` relies on), one payment per idempotency key and per
intent, one refund per (payment, request key), one ledger transaction per key, and a ledger
transaction whose entries sum to zero in one currency (a deferred constraint trigger, checked
at commit). The app role may only read and append ledger rows (migration 0006).
Ids of bookings, offerings, providers and users are not foreign keys: contexts keep their
schemas apart.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.metadata import metadata, one_of

UUID = pg.UUID(as_uuid=True)
PAYMENT_STATUSES = ("created", "requires_action", "processing", "succeeded", "failed", "cancelled")
PARTS = ("full", "deposit", "balance")
OUTCOMES = ("confirmed", "slot_lost", "not_needed")
REVIEWS = ("pending", "approved", "rejected")
REFUND_STATUSES = ("requested", "pending", "succeeded", "failed")
REFUND_REASONS = ("cancellation", "slot_lost", "review_rejected", "goodwill")
ACCOUNT_KINDS = (
    "customer",
    "platform_revenue",
    "provider_payable",
    "processor_fees",
    "provider_paid_out",
)
PROVIDER_ACCOUNTS = ("provider_payable", "provider_paid_out")


def _when(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _minor(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.BigInteger, nullable=nullable)


def _currency() -> sa.Column[object]:
    return sa.Column("currency", sa.String(3), nullable=False)


payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("booking_id", UUID, nullable=False),
    sa.Column("customer_id", UUID, nullable=False),
    sa.Column("provider_id", UUID, nullable=False),
    sa.Column("part", sa.Text, nullable=False),
    _minor("amount_minor"),
    _currency(),
    _minor("commission_minor"),
    sa.Column("terms", pg.JSONB, nullable=False),  # core.payments.terms snapshot()
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("intent_id", sa.Text, unique=True),
    sa.Column("charge_id", sa.Text),  # the succeeded charge: what balance lines name (0008)
    sa.Column("processor_account", sa.Text, nullable=False),
    _minor("captured_minor"),
    _minor("refunded_minor"),
    _minor("fee_minor", nullable=True),
    sa.Column("risk", pg.JSONB(none_as_null=True)),  # {"level", "score", "outcome"}
    sa.Column("card_fingerprint", sa.Text),
    sa.Column("payment_method_id", sa.Text),
    sa.Column("failure", sa.Text),
    sa.Column("review", sa.Text),
    sa.Column("review_reason", sa.Text),
    sa.Column("booking_outcome", sa.Text),
    _when("due_at"),
    # The address a checkout came from, sealed under the customer (field "payments.client_ip"),
    # and its lookup hash, which the velocity rules count failures by (migration 0016).
    sa.Column("client_ip_sealed", sa.LargeBinary),
    sa.Column("client_ip_hash", sa.Text),
    _when("created_at", nullable=False),
    _when("updated_at", nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.CheckConstraint(one_of("part", PARTS), name="part"),
    sa.CheckConstraint(one_of("status", PAYMENT_STATUSES), name="status"),
    sa.CheckConstraint(one_of("review", REVIEWS), name="review"),
    sa.CheckConstraint(one_of("booking_outcome", OUTCOMES), name="booking_outcome"),
    sa.CheckConstraint("amount_minor > 0", name="amount"),
    sa.CheckConstraint("commission_minor BETWEEN 0 AND amount_minor", name="commission"),
    sa.CheckConstraint("refunded_minor BETWEEN 0 AND captured_minor", name="refunded"),
    sa.CheckConstraint("fee_minor >= 0", name="fee"),
    sa.CheckConstraint("version >= 0", name="version"),
)
sa.Index("ix_payments_booking", payments.c.booking_id, payments.c.created_at, payments.c.id)
# One payment of each part of a booking that is not cancelled: two requests racing to pay
# the same booking make one payment (PaymentRepository.add answers False to the loser;
# migration 0008).
sa.Index(
    "uq_payments_booking_part_open",
    payments.c.booking_id,
    payments.c.part,
    unique=True,
    postgresql_where=sa.text("status <> 'cancelled'"),
)
sa.Index(
    "ix_payments_customer_newest",
    payments.c.customer_id,
    payments.c.created_at.desc(),
    payments.c.id.desc(),
)
# The sweeper's queues (migration 0008 made them what the port says).
UNSETTLED = "status = 'succeeded' AND (booking_outcome IS NULL OR fee_minor IS NULL)"
BALANCES_DUE = "part = 'balance' AND status = 'created' AND intent_id IS NULL"
IN_REVIEW = "review = 'pending'"
FAILED = "status = 'failed'"
sa.Index("ix_payments_unsettled", payments.c.created_at, postgresql_where=sa.text(UNSETTLED))
sa.Index("ix_payments_balances_due", payments.c.due_at, postgresql_where=sa.text(BALANCES_DUE))
sa.Index("ix_payments_in_review", payments.c.created_at, postgresql_where=sa.text(IN_REVIEW))
# What the velocity rules count (migration 0006's payment_velocity function).
sa.Index(
    "ix_payments_failed_card",
    payments.c.card_fingerprint,
    payments.c.updated_at,
    postgresql_where=sa.text(FAILED),
)
sa.Index(
    "ix_payments_failed_ip",
    payments.c.client_ip_hash,
    payments.c.updated_at,
    postgresql_where=sa.text(FAILED),
)

refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("payment_id", UUID, sa.ForeignKey("payments.id"), nullable=False),
    _minor("amount_minor"),
    _currency(),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("request_key", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("processor_refund_id", sa.Text, unique=True),
    sa.Column("failure", sa.Text),
    sa.Column("requested_by", UUID),
    sa.Column("resolved_by", UUID),
    sa.Column("note", sa.Text),
    _when("created_at", nullable=False),
    _when("updated_at", nullable=False),
    sa.UniqueConstraint("payment_id", "request_key", name="uq_refunds_request"),
    sa.CheckConstraint(one_of("reason", REFUND_REASONS), name="reason"),
    sa.CheckConstraint(one_of("status", REFUND_STATUSES), name="status"),
    sa.CheckConstraint("amount_minor > 0", name="amount"),
    sa.CheckConstraint("attempt >= 1", name="attempt"),
)
sa.Index("ix_refunds_status_updated", refunds.c.status, refunds.c.updated_at)

# Versions of an offering's terms; the platform default (version 0) has no row.
offering_terms = sa.Table(
    "offering_terms",
    metadata,
    sa.Column("offering_id", UUID, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    _when("effective_from", nullable=False),
    sa.Column("terms", pg.JSONB, nullable=False),  # core.payments.terms snapshot()
    sa.CheckConstraint("version >= 1", name="version"),
)

ledger_transactions = sa.Table(
    "ledger_transactions",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    _when("at", nullable=False),
    sa.Column("payment_id", UUID, sa.ForeignKey("payments.id"), index=True),
    sa.Column("refund_id", UUID, sa.ForeignKey("refunds.id")),
    sa.Column("source", sa.Text),
    # The provider whose accounts the entries touch, if any (row-level security reads it).
    sa.Column("provider_id", UUID),
)
sa.Index("ix_ledger_transactions_at", ledger_transactions.c.at)
# The foreign key's referencing side (migration 0021).
sa.Index(
    "ix_ledger_transactions_refund",
    ledger_transactions.c.refund_id,
    postgresql_where=ledger_transactions.c.refund_id.isnot(None),
)
sa.Index(
    "ix_ledger_transactions_provider_at",
    ledger_transactions.c.provider_id,
    ledger_transactions.c.at,
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("transaction_id", UUID, sa.ForeignKey("ledger_transactions.id"), primary_key=True),
    sa.Column("position", sa.SmallInteger, primary_key=True),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("provider_id", UUID, index=True),
    _minor("minor"),  # signed: what the account gains
    _currency(),
    sa.CheckConstraint(one_of("account", ACCOUNT_KINDS), name="account"),
    sa.CheckConstraint(
        f"({one_of('account', PROVIDER_ACCOUNTS)}) = (provider_id IS NOT NULL)", name="provider"
    ),
    sa.CheckConstraint("minor <> 0", name="minor"),
)

# Verified webhooks by event id. No payload: processing asks the processor again.
processor_events = sa.Table(
    "processor_events",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("object_id", sa.Text, nullable=False),
    sa.Column("account_ref", sa.Text),
    _when("created_at", nullable=False),  # the processor's
    _when("received_at", nullable=False),
    _when("processed_at"),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    _when("next_attempt_at", nullable=False),
)
sa.Index(
    "ix_processor_events_pending",
    processor_events.c.received_at,
    processor_events.c.id,
    postgresql_where=sa.text("processed_at IS NULL"),
)

provider_accounts = sa.Table(
    "provider_accounts",
    metadata,
    sa.Column("provider_id", UUID, primary_key=True),
    sa.Column("account_ref", sa.Text, unique=True),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("charges_enabled", sa.Boolean, nullable=False),
    sa.Column("payouts_enabled", sa.Boolean, nullable=False),
    _when("updated_at", nullable=False),
)

processor_customers = sa.Table(
    "processor_customers",
    metadata,
    sa.Column("user_id", UUID, primary_key=True),
    sa.Column("customer_ref", sa.Text, unique=True),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
)

PAYMENTS_TABLES = (
    "payments",
    "refunds",
    "offering_terms",
    "ledger_transactions",
    "ledger_entries",
    "processor_events",
    "provider_accounts",
    "processor_customers",
)

# A ledger transaction balances: at least one entry, one currency, a sum of zero, and only its
# provider's accounts. Checked when the writing transaction commits, whatever wrote the rows
# (SECURITY DEFINER: row-level security must not hide entries from the check).
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
BALANCED_TRIGGERS = tuple(
    f"CREATE CONSTRAINT TRIGGER {table}_balanced AFTER INSERT ON {table}"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_balanced()"
    for table in ("ledger_transactions", "ledger_entries")
)


# `metadata.create_all` (tests) gets the triggers too; the migration creates them explicitly.
@sa.event.listens_for(ledger_entries, "after_create")
def _create_balanced_triggers(target: sa.Table, connection: sa.Connection, **_: object) -> None:
    connection.execute(sa.text(BALANCED_FUNCTION))
    for trigger in BALANCED_TRIGGERS:
        connection.execute(sa.text(trigger))


@sa.event.listens_for(ledger_transactions, "after_drop")
def _drop_balanced_function(target: sa.Table, connection: sa.Connection, **_: object) -> None:
    connection.execute(sa.text("DROP FUNCTION IF EXISTS ledger_balanced()"))
