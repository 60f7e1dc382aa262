"""Messaging: messages, contact preferences, undeliverable addresses, WhatsApp service windows,
calendar UIDs and feeds, providers' reminder offsets.

One message per dedupe key (event x channel x recipient) and per provider message id; a
booking chain's calendar UID with its SEQUENCE; secret calendar feeds stored as token digests.

Least privilege as in 0004: the app role gets only what the repositories do (nothing deletes a
message), and row-level security keeps a message to its recipient, the staff of its provider
and admins or maintenance jobs (the worker and the providers' webhooks run as maintenance);
contact preferences to their person. Undeliverable addresses and service windows are the
worker's: a person may only see whether their own address bounced. Calendar UIDs follow the
bookings their caller may see; a feed is visible to its owner and to whoever presents its digest
as the key. Reminder offsets are public (like the catalog) and written by the provider's staff.

Revision ID: 0010_messaging
Revises: 0009_jobs
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.migrations.helpers import check, grant_app_role, row_level_security

revision: str = "0010_messaging"
down_revision: str | None = "0009_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
TZ = sa.DateTime(timezone=True)
KINDS = (
    "'email_verification', 'password_reset', 'existing_account', 'booking_held',"
    " 'booking_confirmed', 'booking_cancelled', 'booking_rescheduled', 'refund_issued',"
    " 'reminder'"
)
CHANNELS = "'email', 'whatsapp'"
STATUSES = (
    "'queued', 'sending', 'sent', 'delivered', 'read', 'bounced', 'dropped', 'spam_reported',"
    " 'unsubscribed', 'failed', 'suppressed'"
)
PHONE = "^\\+[1-9][0-9]{1,14}$"
FEED_OWNER = "^(customer|provider):[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$"

READ_WRITE = "SELECT, INSERT, UPDATE"
PRIVILEGES = {
    "messages": READ_WRITE,
    "contact_preferences": READ_WRITE,
    "undeliverable_addresses": READ_WRITE,
    "whatsapp_windows": READ_WRITE,
    "calendar_chains": READ_WRITE,
    "calendar_uids": READ_WRITE,
    "calendar_feeds": READ_WRITE,
    "provider_reminder_offsets": "SELECT, INSERT, DELETE",
}
STAFF = "provider_id = ANY (app_provider_ids())"
CALLER_FEEDS = (
    "owner = 'customer:' || app_user_id()"
    " OR owner IN (SELECT 'provider:' || p FROM unnest(app_provider_ids()) AS p)"
    " OR token_digest = app_key()"
)
POLICIES = (
    "CREATE POLICY messages_caller ON messages"
    f" USING (app_all_rows() OR recipient_id = app_user_id() OR {STAFF})",
    "CREATE POLICY contact_preferences_caller ON contact_preferences"
    " USING (app_all_rows() OR user_id = app_user_id())",
    "CREATE POLICY undeliverable_addresses_maintenance ON undeliverable_addresses"
    " USING (app_all_rows())",
    # The subquery sees only the caller's own user row (users' policy applies).
    "CREATE POLICY undeliverable_addresses_own ON undeliverable_addresses FOR SELECT"
    " USING (address_key IN (SELECT email_key FROM users WHERE id = app_user_id()))",
    "CREATE POLICY whatsapp_windows_maintenance ON whatsapp_windows USING (app_all_rows())",
    # The subqueries see only the bookings, and so the UIDs, the caller may see.
    "CREATE POLICY calendar_uids_caller ON calendar_uids"
    " USING (app_all_rows() OR booking_id IN (SELECT id FROM bookings))",
    "CREATE POLICY calendar_chains_caller ON calendar_chains"
    " USING (app_all_rows() OR uid IN (SELECT uid FROM calendar_uids))",
    "CREATE POLICY calendar_feeds_caller ON calendar_feeds"
    f" USING (app_all_rows() OR {CALLER_FEEDS})",
    "CREATE POLICY provider_reminder_offsets_read ON provider_reminder_offsets FOR SELECT"
    " USING (true)",
    "CREATE POLICY provider_reminder_offsets_add ON provider_reminder_offsets FOR INSERT"
    f" WITH CHECK (app_all_rows() OR {STAFF})",
    "CREATE POLICY provider_reminder_offsets_remove ON provider_reminder_offsets FOR DELETE"
    f" USING (app_all_rows() OR {STAFF})",
)


def _newest(name: str, *columns: str) -> None:
    op.create_index(
        f"ix_messages_{name}",
        "messages",
        [*columns, sa.text("created_at DESC"), sa.text("id DESC")],
    )


def upgrade() -> None:
    _messages()
    _contacts()
    _calendar()
    _reminders()
    row_level_security(PRIVILEGES, POLICIES)
    grant_app_role(PRIVILEGES)


def _messages() -> None:
    op.create_table(
        "messages",
        sa.Column("id", UUID, nullable=False),
        sa.Column("dedupe_key", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("recipient_id", UUID),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("locale", sa.Text, nullable=False),
        sa.Column("event_id", UUID),
        sa.Column("booking_id", UUID),
        sa.Column("provider_id", UUID),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("provider_message_id", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("dedupe_key", name="uq_messages_dedupe_key"),
        sa.UniqueConstraint("provider_message_id", name="uq_messages_provider_message_id"),
        check("messages", "kind", f"kind IN ({KINDS})"),
        check("messages", "channel", f"channel IN ({CHANNELS})"),
        check("messages", "status", f"status IN ({STATUSES})"),
        check("messages", "attempts", "attempts >= 0"),
    )
    _newest("recipient_newest", "recipient_id")
    _newest("provider_newest", "provider_id")
    _newest("status_newest", "status")
    _newest("newest")
    op.create_index("ix_messages_booking_id", "messages", ["booking_id"])
    op.create_index("ix_messages_event_id", "messages", ["event_id"])


def _contacts() -> None:
    op.create_table(
        "contact_preferences",
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("locale", sa.Text, nullable=False),
        sa.Column("phone", sa.Text),
        sa.Column("whatsapp_opt_in_at", TZ),
        sa.PrimaryKeyConstraint("user_id", name="pk_contact_preferences"),
        check("contact_preferences", "phone_e164", f"phone ~ '{PHONE}'"),
    )
    op.create_index("ix_contact_preferences_phone", "contact_preferences", ["phone"])
    op.create_table(
        "undeliverable_addresses",
        sa.Column("address_key", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("marked_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("address_key", name="pk_undeliverable_addresses"),
        check(
            "undeliverable_addresses",
            "address_key_normalised",
            "address_key = lower(btrim(address))",
        ),
    )
    op.create_table(
        "whatsapp_windows",
        sa.Column("phone", sa.Text, nullable=False),
        sa.Column("last_inbound_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("phone", name="pk_whatsapp_windows"),
    )


def _calendar() -> None:
    op.create_table(
        "calendar_chains",
        sa.Column("uid", sa.Text, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("uid", name="pk_calendar_chains"),
        check("calendar_chains", "sequence", "sequence >= 0"),
    )
    op.create_table(
        "calendar_uids",
        sa.Column("booking_id", UUID, nullable=False),
        sa.Column("uid", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("booking_id", name="pk_calendar_uids"),
        sa.ForeignKeyConstraint(
            ["uid"],
            ["calendar_chains.uid"],
            name="fk_calendar_uids_uid_calendar_chains",
            ondelete="CASCADE",
            deferrable=True,
            initially="DEFERRED",
        ),
    )
    op.create_index("ix_calendar_uids_uid", "calendar_uids", ["uid"])
    op.create_table(
        "calendar_feeds",
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("token_digest", sa.Text, nullable=False),
        sa.Column("issued_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("owner", name="pk_calendar_feeds"),
        sa.UniqueConstraint("token_digest", name="uq_calendar_feeds_token_digest"),
        check("calendar_feeds", "owner", f"owner ~ '{FEED_OWNER}'"),
    )


def _reminders() -> None:
    op.create_table(
        "provider_reminder_offsets",
        sa.Column("provider_id", UUID, nullable=False),
        sa.Column("offset_minutes", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint(
            "provider_id", "offset_minutes", name="pk_provider_reminder_offsets"
        ),
        check("provider_reminder_offsets", "offset", "offset_minutes BETWEEN 1 AND 43200"),
    )


def downgrade() -> None:
    # This policy reads calendar_uids, which goes first (the chains are what it refers to).
    op.execute("DROP POLICY calendar_chains_caller ON calendar_chains")
    for table in reversed(PRIVILEGES):  # the other policies and the grants go with the tables
        op.drop_table(table)
