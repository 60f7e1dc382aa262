"""Messaging's and payments' personal fields sealed per person (issue 10; docs/privacy.md).

- messages.address -> address_sealed (bytea, sealed under the recipient's key, field
  "messaging.address"). Every message has a recipient (planning only ever targets a person),
  so recipient_id becomes NOT NULL: a value must have a person to be sealed for.
- contact_preferences.phone -> phone_sealed (under the person) + phone_hash (HMAC of the E.164
  number, field "messaging.phone"), indexed: an inbound WhatsApp message finds its person by it.
- undeliverable_addresses keeps only address_hash (HMAC of the trimmed, lower-cased address,
  field "messaging.address"), the reason and when: a bounce still stops later sends to the
  address, compared by hash. The plaintext address goes, and with it the "own" read policy
  (it compared with users.email_key; only maintenance reads the table now).
- whatsapp_windows is keyed by phone_hash (field "messaging.phone").
- payments.client_ip -> client_ip_sealed (under the customer, field "payments.client_ip") and
  client_ip_hash (what the velocity rules count failures by; payment_velocity compares hashes).
- The app role may DELETE messages, contact preferences, bounce marks and service windows:
  erasure.

A migration cannot seal (it does not hold the key-encryption key): tables holding personal
plaintext must be empty, else the upgrade refuses, naming them. WhatsApp service windows are
ephemeral (24 hours) and simply dropped. The downgrade drops the sealed values.

Revision ID: 0016_messaging_personal
Revises: 0015_identity_personal
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.postgis.migrations.helpers import grant_app_role

revision: str = "0016_messaging_personal"
down_revision: str | None = "0015_identity_personal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FAILED = "status = 'failed'"
# Personal plaintext that would be lost: (table, rows holding it).
PLAINTEXT = (
    ("messages", "TRUE"),
    ("contact_preferences", "phone IS NOT NULL"),
    ("undeliverable_addresses", "TRUE"),
    ("payments", "client_ip IS NOT NULL"),
)
VELOCITY_FUNCTION = """
CREATE OR REPLACE FUNCTION payment_velocity(
    customer uuid, fingerprint text, address text, since timestamptz)
RETURNS TABLE (failed_by_account bigint, failed_by_card bigint, failed_by_ip bigint,
               payments_by_account bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT
        (SELECT count(*) FROM payments
         WHERE customer_id = customer AND status = 'failed' AND updated_at >= since),
        (SELECT count(*) FROM payments
         WHERE card_fingerprint = fingerprint AND status = 'failed' AND updated_at >= since),
        (SELECT count(*) FROM payments
         WHERE client_ip_hash = address AND status = 'failed' AND updated_at >= since),
        (SELECT count(*) FROM payments WHERE customer_id = customer AND created_at >= since)
$$
"""
VELOCITY_FUNCTION_0006 = VELOCITY_FUNCTION.replace(
    "client_ip_hash = address", "client_ip = address"
)
ERASURE = {
    "messages": "DELETE",
    "contact_preferences": "DELETE",
    "undeliverable_addresses": "DELETE",
    "whatsapp_windows": "DELETE",
}


class PersonalPlaintextLeft(RuntimeError):
    pass


def _refuse_plaintext() -> None:
    connection = op.get_bind()
    held = []
    for table, where in PLAINTEXT:
        count = connection.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE {where}")  # noqa: S608 (constants)
        ).scalar_one()
        if count:
            held.append(f"{table} ({count} rows)")
    if held:
        raise PersonalPlaintextLeft(
            "0016_messaging_personal: personal data in clear in "
            + ", ".join(held)
            + " cannot be sealed by a migration (it holds no key-encryption key). There is no"
            " production data yet: start from a fresh database (for the private development"
            " one: rm -r .data)."
        )


def upgrade() -> None:
    _refuse_plaintext()
    # messages
    op.add_column("messages", sa.Column("address_sealed", sa.LargeBinary, nullable=False))
    op.drop_column("messages", "address")
    op.alter_column("messages", "recipient_id", nullable=False)
    # contact preferences
    op.drop_index("ix_contact_preferences_phone", "contact_preferences")
    op.drop_constraint("ck_contact_preferences_phone_e164", "contact_preferences")
    op.drop_column("contact_preferences", "phone")
    op.add_column("contact_preferences", sa.Column("phone_sealed", sa.LargeBinary))
    op.add_column("contact_preferences", sa.Column("phone_hash", sa.Text))
    op.create_index("ix_contact_preferences_phone_hash", "contact_preferences", ["phone_hash"])
    # undeliverable addresses: by hash only
    op.execute("DROP POLICY IF EXISTS undeliverable_addresses_own ON undeliverable_addresses")
    op.drop_constraint(
        "ck_undeliverable_addresses_address_key_normalised", "undeliverable_addresses"
    )
    op.drop_constraint("pk_undeliverable_addresses", "undeliverable_addresses")
    op.drop_column("undeliverable_addresses", "address")
    op.drop_column("undeliverable_addresses", "address_key")
    op.add_column("undeliverable_addresses", sa.Column("address_hash", sa.Text, nullable=False))
    op.create_primary_key("pk_undeliverable_addresses", "undeliverable_addresses", ["address_hash"])
    # WhatsApp windows: ephemeral, dropped
    op.execute("DELETE FROM whatsapp_windows")
    op.drop_constraint("pk_whatsapp_windows", "whatsapp_windows")
    op.drop_column("whatsapp_windows", "phone")
    op.add_column("whatsapp_windows", sa.Column("phone_hash", sa.Text, nullable=False))
    op.create_primary_key("pk_whatsapp_windows", "whatsapp_windows", ["phone_hash"])
    # payments
    op.drop_index("ix_payments_failed_ip", "payments")
    op.drop_column("payments", "client_ip")
    op.add_column("payments", sa.Column("client_ip_sealed", sa.LargeBinary))
    op.add_column("payments", sa.Column("client_ip_hash", sa.Text))
    op.create_index(
        "ix_payments_failed_ip",
        "payments",
        ["client_ip_hash", "updated_at"],
        postgresql_where=sa.text(FAILED),
    )
    op.execute(VELOCITY_FUNCTION)
    grant_app_role(ERASURE)


def downgrade() -> None:
    role = grant_app_role({})  # the quoted role, or None
    if role is not None:
        for table in ERASURE:
            op.execute(f"REVOKE DELETE ON {table} FROM {role}")
    # payments (the sealed addresses go)
    op.drop_index("ix_payments_failed_ip", "payments")
    op.drop_column("payments", "client_ip_hash")
    op.drop_column("payments", "client_ip_sealed")
    op.add_column("payments", sa.Column("client_ip", sa.Text))
    op.create_index(
        "ix_payments_failed_ip",
        "payments",
        ["client_ip", "updated_at"],
        postgresql_where=sa.text(FAILED),
    )
    op.execute(VELOCITY_FUNCTION_0006)
    # WhatsApp windows
    op.execute("DELETE FROM whatsapp_windows")
    op.drop_constraint("pk_whatsapp_windows", "whatsapp_windows")
    op.drop_column("whatsapp_windows", "phone_hash")
    op.add_column("whatsapp_windows", sa.Column("phone", sa.Text, nullable=False))
    op.create_primary_key("pk_whatsapp_windows", "whatsapp_windows", ["phone"])
    # undeliverable addresses (their hashes cannot be turned back into addresses)
    op.execute("DELETE FROM undeliverable_addresses")
    op.drop_constraint("pk_undeliverable_addresses", "undeliverable_addresses")
    op.drop_column("undeliverable_addresses", "address_hash")
    op.add_column("undeliverable_addresses", sa.Column("address_key", sa.Text, nullable=False))
    op.add_column("undeliverable_addresses", sa.Column("address", sa.Text, nullable=False))
    op.create_primary_key("pk_undeliverable_addresses", "undeliverable_addresses", ["address_key"])
    op.create_check_constraint(
        "ck_undeliverable_addresses_address_key_normalised",
        "undeliverable_addresses",
        "address_key = lower(btrim(address))",
    )
    # 0010's read policy compared with users.email_key: back only where that column still is
    # (0015 keeps identity's columns; it drops this policy if it drops that column).
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT FROM information_schema.columns"
        " WHERE table_name = 'users' AND column_name = 'email_key') THEN"
        " CREATE POLICY undeliverable_addresses_own ON undeliverable_addresses FOR SELECT"
        " USING (address_key IN (SELECT email_key FROM users WHERE id = app_user_id()));"
        " END IF; END $$"
    )
    # contact preferences (phones go; locales and opt-ins stay)
    op.drop_index("ix_contact_preferences_phone_hash", "contact_preferences")
    op.drop_column("contact_preferences", "phone_hash")
    op.drop_column("contact_preferences", "phone_sealed")
    op.add_column("contact_preferences", sa.Column("phone", sa.Text))
    op.create_check_constraint(
        "ck_contact_preferences_phone_e164",
        "contact_preferences",
        "phone ~ '^\\+[1-9][0-9]{1,14}$'",
    )
    op.create_index("ix_contact_preferences_phone", "contact_preferences", ["phone"])
    # messages (sealed addresses go with the rows: an address is required)
    op.execute("DELETE FROM messages")
    op.alter_column("messages", "recipient_id", nullable=True)
    op.drop_column("messages", "address_sealed")
    op.add_column("messages", sa.Column("address", sa.Text, nullable=False))
