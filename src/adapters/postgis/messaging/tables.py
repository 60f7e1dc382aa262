"""Tables of the messaging context (SQLAlchemy Core), kept apart from the attrs domain.

Keep this file and migrations 0010_messaging and 0013_reminder_plans in step
(tests/integration/messaging_postgis compare the catalogs). What the database enforces: one
message per dedupe key (event x channel x recipient; reminders: booking x offset x channel x
recipient), one message per provider message id, one calendar UID per booking (a chain's
bookings share theirs) and one feed per owner and per token digest. Ids of users, bookings,
providers and events are not foreign keys: contexts keep their schemas apart (as identity's and
payments' tables do); they are indexed all the same.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from adapters.postgis.metadata import metadata, one_of
from core.messaging.model import Channel, MessageKind, MessageStatus

UUID = pg.UUID(as_uuid=True)
CHANNELS = tuple(channel.value for channel in Channel)
KINDS = tuple(kind.value for kind in MessageKind)
STATUSES = tuple(status.value for status in MessageStatus)
FEED_OWNER = "^(customer|provider):[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$"


def _when(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("dedupe_key", sa.Text, nullable=False, unique=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    # Every message has a recipient: its address is sealed under their key (migration 0016).
    sa.Column("recipient_id", UUID, nullable=False),
    sa.Column("address_sealed", sa.LargeBinary, nullable=False),  # field "messaging.address"
    sa.Column("locale", sa.Text, nullable=False),
    sa.Column("event_id", UUID),
    sa.Column("booking_id", UUID),
    sa.Column("provider_id", UUID),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("provider_message_id", sa.Text, unique=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    _when("created_at", nullable=False),
    _when("updated_at", nullable=False),
    sa.CheckConstraint(one_of("kind", KINDS), name="kind"),
    sa.CheckConstraint(one_of("channel", CHANNELS), name="channel"),
    sa.CheckConstraint(one_of("status", STATUSES), name="status"),
    sa.CheckConstraint("attempts >= 0", name="attempts"),
)
# Newest first, per reader: a person's, a provider's, by status, everyone's (admins).
sa.Index(
    "ix_messages_recipient_newest",
    messages.c.recipient_id,
    messages.c.created_at.desc(),
    messages.c.id.desc(),
)
sa.Index(
    "ix_messages_provider_newest",
    messages.c.provider_id,
    messages.c.created_at.desc(),
    messages.c.id.desc(),
)
sa.Index(
    "ix_messages_status_newest",
    messages.c.status,
    messages.c.created_at.desc(),
    messages.c.id.desc(),
)
sa.Index("ix_messages_newest", messages.c.created_at.desc(), messages.c.id.desc())
sa.Index("ix_messages_booking_id", messages.c.booking_id)
sa.Index("ix_messages_event_id", messages.c.event_id)

contact_preferences = sa.Table(
    "contact_preferences",
    metadata,
    sa.Column("user_id", UUID, primary_key=True),
    sa.Column("locale", sa.Text, nullable=False),
    sa.Column("phone_sealed", sa.LargeBinary),  # E.164, field "messaging.phone"
    sa.Column("phone_hash", sa.Text),  # lookup_hash of the E.164 number (inbound WhatsApp)
    _when("whatsapp_opt_in_at"),
)
sa.Index("ix_contact_preferences_phone_hash", contact_preferences.c.phone_hash)

# Keyed by the lookup hash of the normalised address (trimmed, lowercased; field
# "messaging.address"): a bounce of Ana@X.org stops ana@x.org, and no address is kept.
undeliverable_addresses = sa.Table(
    "undeliverable_addresses",
    metadata,
    sa.Column("address_hash", sa.Text, primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    _when("marked_at", nullable=False),
)

# WhatsApp's customer-service window: the last inbound message per number (its lookup hash,
# field "messaging.phone").
whatsapp_windows = sa.Table(
    "whatsapp_windows",
    metadata,
    sa.Column("phone_hash", sa.Text, primary_key=True),
    _when("last_inbound_at", nullable=False),
)

# A booking chain's calendar UID and the last SEQUENCE given for it.
calendar_chains = sa.Table(
    "calendar_chains",
    metadata,
    sa.Column("uid", sa.Text, primary_key=True),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.CheckConstraint("sequence >= 0", name="sequence"),
)

# Each booking's chain: a rescheduled booking joins its predecessor's. The foreign key is checked
# at commit, so a booking and its new chain may be written in either order.
calendar_uids = sa.Table(
    "calendar_uids",
    metadata,
    sa.Column("booking_id", UUID, primary_key=True),
    sa.Column(
        "uid",
        sa.Text,
        sa.ForeignKey(
            "calendar_chains.uid", ondelete="CASCADE", deferrable=True, initially="DEFERRED"
        ),
        nullable=False,
        index=True,
    ),
)

# Secret feed URLs: only the SHA-256 of the token; one feed per owner ("customer:<uuid>",
# "provider:<uuid>"), issuing again replaces it.
calendar_feeds = sa.Table(
    "calendar_feeds",
    metadata,
    sa.Column("owner", sa.Text, primary_key=True),
    sa.Column("token_digest", sa.Text, nullable=False, unique=True),
    _when("issued_at", nullable=False),
    sa.CheckConstraint(f"owner ~ '{FEED_OWNER}'", name="owner"),
)

# A provider's reminder offsets (see provider_reminder_plans below for who chose a plan).
provider_reminder_offsets = sa.Table(
    "provider_reminder_offsets",
    metadata,
    sa.Column("provider_id", UUID, primary_key=True),
    sa.Column("offset_minutes", sa.Integer, primary_key=True),
    sa.CheckConstraint("offset_minutes BETWEEN 1 AND 43200", name="offset"),  # up to 30 days
)

# The providers that chose their own plan (migration 0013): their offsets are their rows above,
# none meaning no reminders at all. A provider without a row here gets the default plan.
provider_reminder_plans = sa.Table(
    "provider_reminder_plans",
    metadata,
    sa.Column("provider_id", UUID, primary_key=True),
    _when("chosen_at", nullable=False),
)

REMINDER_PLAN_TABLES = ("provider_reminder_plans",)  # migration 0013
MESSAGING_TABLES = (
    "messages",
    "contact_preferences",
    "undeliverable_addresses",
    "whatsapp_windows",
    "calendar_chains",
    "calendar_uids",
    "calendar_feeds",
    "provider_reminder_offsets",
)
