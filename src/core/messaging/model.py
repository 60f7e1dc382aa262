"""Messages the platform sends to people: what, to whom, on which channel, and how it went.

A message is planned once per event x channel x recipient (`dedupe_key`), stored before it is
sent, and sent by a job. Its status only moves forward (`MessageStatus.rank`); the provider's
message id is recorded the moment the provider accepts it, so a retried job never sends twice.
Secrets (a verification link's token) are never part of a message: they are read from the
sealed outbox event at send time and exist only in the rendered mail.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta
from typing import NewType

import attrs

from core.shared.ids import BookingId, EventId, ProviderId, UserId

MessageId = NewType("MessageId", uuid.UUID)


class Channel(enum.StrEnum):
    EMAIL = "email"
    WHATSAPP = "whatsapp"


class Purpose(enum.StrEnum):
    """Why a message is sent: what consent (issue 10's ledger) is asked about."""

    TRANSACTIONAL = "transactional"  # account and booking mails: always allowed by email
    REMINDERS = "reminders"
    MARKETING = "marketing"  # never without consent


class MessageKind(enum.StrEnum):
    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a message kind)
    EXISTING_ACCOUNT = "existing_account"  # someone tried to register the address again
    BOOKING_HELD = "booking_held"
    BOOKING_CONFIRMED = "booking_confirmed"
    BOOKING_CANCELLED = "booking_cancelled"
    BOOKING_RESCHEDULED = "booking_rescheduled"
    REFUND_ISSUED = "refund_issued"
    REMINDER = "reminder"


class MessageStatus(enum.StrEnum):
    QUEUED = "queued"  # planned; a send job exists
    SENDING = "sending"  # an attempt started; the provider may or may not have it
    SENT = "sent"  # the provider accepted it (provider_message_id recorded)
    DELIVERED = "delivered"
    READ = "read"
    BOUNCED = "bounced"
    DROPPED = "dropped"
    SPAM_REPORTED = "spam_reported"
    UNSUBSCRIBED = "unsubscribed"
    FAILED = "failed"  # the provider refused it, or every attempt failed
    SUPPRESSED = "suppressed"  # never sent: undeliverable address, no opt-in, booking gone

    @property
    def rank(self) -> int:
        """Statuses reported out of order never move a message backwards."""
        return _RANK[self]

    @property
    def is_final(self) -> bool:
        return self.rank >= _RANK[MessageStatus.DELIVERED] or self is MessageStatus.SUPPRESSED


_RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
    MessageStatus.BOUNCED: 5,
    MessageStatus.DROPPED: 5,
    MessageStatus.SPAM_REPORTED: 6,
    MessageStatus.UNSUBSCRIBED: 6,
    MessageStatus.FAILED: 5,
    MessageStatus.SUPPRESSED: 5,
}


@attrs.frozen(kw_only=True)
class Message:
    id: MessageId
    dedupe_key: str  # event x channel x recipient (reminders: booking x offset x channel)
    kind: MessageKind
    channel: Channel
    recipient_id: UserId | None  # None for an address with no account (never today)
    # An email address or an E.164 phone number; None once the recipient was erased (stores
    # seal it under the recipient's key, and erasure destroys that key).
    address: str | None
    locale: str  # "en", "de"
    event_id: EventId | None = None
    booking_id: BookingId | None = None
    provider_id: ProviderId | None = None
    status: MessageStatus = MessageStatus.QUEUED
    provider_message_id: str | None = None
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class StatusReport:
    """What a provider's webhook says about one of our messages."""

    message_id: MessageId | None  # our id, when the provider echoes it (SendGrid custom args)
    provider_message_id: str | None  # theirs (WhatsApp wamid, SendGrid sg_message_id)
    status: MessageStatus
    at: datetime
    detail: str | None = None
    hard_bounce: bool = False  # the address can never receive: mark it undeliverable


@attrs.frozen(kw_only=True)
class ContactPreferences:
    user_id: UserId
    locale: str = "en"
    phone: str | None = None  # E.164, validated by the PhoneNumbers port
    whatsapp_opt_in_at: datetime | None = None


@attrs.frozen(kw_only=True)
class ReminderPlan:
    """Reminders before a booking's start, per provider (default 24 h and 2 h)."""

    offsets: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=2))


class CalendarMethod(enum.StrEnum):
    REQUEST = "REQUEST"  # new or updated
    CANCEL = "CANCEL"
    PUBLISH = "PUBLISH"  # a feed


@attrs.frozen(kw_only=True)
class CalendarEntry:
    """One booking as a calendar event (RFC 5545 VEVENT); rendered by a CalendarWriter."""

    uid: str  # stable across reschedules of one booking chain
    sequence: int  # increases with every update
    summary: str
    starts: datetime  # aware UTC
    ends: datetime
    time_zone: str  # the place's IANA zone
    location: str
    description: str = ""
    cancelled: bool = False
    stamp: datetime  # DTSTAMP: when this version was made


@attrs.frozen(kw_only=True)
class SendReceipt:
    provider_message_id: str


@attrs.frozen(kw_only=True)
class SendRefused:
    """The provider will never accept this message (bad address, template rejected)."""

    reason: str


class SendFailedTemporarily(Exception):
    """A provider outage, a timeout, a 5xx or 429: the job retries with back-off."""
