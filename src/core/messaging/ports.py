"""The ports messaging needs. Adapters subclass them explicitly so mypy catches drift.

Stores: `MessagingUnitOfWork` (one transaction; its `jobs` defer in that same transaction).
Senders: `EmailSender`, `WhatsAppSender`. Rendering: `Renderer`, `CalendarWriter`.
Reads of other contexts' rows (events, bookings, people) are narrow read models here, so
messaging imports nothing from identity, bookings or payments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from core.messaging.model import (
    CalendarEntry,
    CalendarMethod,
    Channel,
    ContactPreferences,
    Message,
    MessageId,
    MessageKind,
    MessageStatus,
    Purpose,
    ReminderPlan,
    SendReceipt,
    SendRefused,
    StatusReport,
)
from core.shared.events import Event
from core.shared.ids import BookingId, EventId, ProviderId, UserId
from core.shared.unit_of_work import UnitOfWork

# --- read models of other contexts ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Person:
    """A recipient as messaging sees them (identity's user + messaging's preferences)."""

    user_id: UserId
    email: str
    email_verified: bool
    display_name: str | None
    preferences: ContactPreferences


@attrs.frozen(kw_only=True)
class BookingFacts:
    """What a booking message says: read fresh at send time, never copied into the message."""

    booking_id: BookingId
    provider_id: ProviderId
    customer_id: UserId
    status: str  # bookings' BookingStatus value: held, confirmed, cancelled, rescheduled, ...
    starts: datetime  # aware UTC
    ends: datetime
    time_zone: str  # the place's IANA zone
    offering_name: str
    provider_name: str
    place_name: str
    place_address: str
    seats: int
    price_minor: int
    currency: str
    rescheduled_from: BookingId | None
    staff_ids: tuple[UserId, ...] = ()  # the provider's owner and staff (provider copies)


class EventLog(Protocol):
    async def get(self, event_id: EventId) -> Event | None: ...

    async def mark_dispatched(self, event_id: EventId, at: datetime) -> None: ...


class People(Protocol):
    async def get(self, user_id: UserId) -> Person | None: ...


class Bookings(Protocol):
    async def facts(self, booking_id: BookingId) -> BookingFacts | None: ...

    async def of_customer(self, user_id: UserId) -> Sequence[BookingFacts]:
        """Every booking of a customer (a calendar feed), newest start last."""
        ...

    async def of_provider(self, provider_id: ProviderId) -> Sequence[BookingFacts]: ...

    async def reminder_plan(self, provider_id: ProviderId) -> ReminderPlan:
        """The provider's plan (`ReminderPlans`), or the default one if it never chose."""
        ...


# --- messaging's own rows ---------------------------------------------------------------------


class Messages(Protocol):
    async def add(self, message: Message) -> bool:
        """Insert unless a message with the same dedupe_key exists; True if inserted."""
        ...

    async def get(self, message_id: MessageId) -> Message | None: ...

    async def by_provider_id(self, provider_message_id: str) -> Message | None: ...

    async def update(self, message: Message, *, expected: MessageStatus) -> bool:
        """Compare-and-set: write `message` only if the stored one's status is still
        `expected` (atomic: one conditional UPDATE); True if written. False means another
        writer (a provider's report through `advance`, another attempt) moved it since it was
        read: read it again and decide afresh; never write blindly over it."""
        ...

    async def advance(self, report: StatusReport) -> Message | None:
        """Apply a webhook report if it moves the message forward (by `MessageStatus.rank`);
        atomic (one conditional UPDATE). The updated message, or None if nothing changed."""
        ...

    async def list(
        self,
        *,
        recipient_id: UserId | None = None,
        provider_id: ProviderId | None = None,
        status: MessageStatus | None = None,
        before: MessageId | None = None,
        limit: int = 50,
    ) -> Sequence[Message]:
        """Newest first; `before` is the cursor (the last id of the previous page)."""
        ...


class ReminderPlans(Protocol):
    """Each provider's own reminder plan (what `Bookings.reminder_plan` answers from)."""

    async def get(self, provider_id: ProviderId) -> ReminderPlan | None:
        """The plan the provider chose (no offsets: no reminders); None when it never chose
        one (the default plan applies)."""
        ...

    async def put(self, provider_id: ProviderId, plan: ReminderPlan) -> None:
        """Replace the provider's plan; an empty plan is kept as "no reminders"."""
        ...


class Preferences(Protocol):
    async def get(self, user_id: UserId) -> ContactPreferences | None: ...

    async def put(self, preferences: ContactPreferences) -> None: ...


class Undeliverable(Protocol):
    """Addresses that hard-bounced: email is never tried again until the person changes it."""

    async def mark(self, address: str, reason: str, at: datetime) -> None: ...

    async def contains(self, address: str) -> bool: ...


class ServiceWindows(Protocol):
    """WhatsApp's 24-hour customer-service window: opened by the person's last inbound message."""

    async def opened(self, phone: str, at: datetime) -> None: ...

    async def last_inbound(self, phone: str) -> datetime | None: ...


class CalendarSequences(Protocol):
    """One calendar UID per booking chain (a reschedule keeps it) and its SEQUENCE."""

    async def next(
        self, booking_id: BookingId, rescheduled_from: BookingId | None
    ) -> tuple[str, int]:
        """The chain's UID and a SEQUENCE higher than any given before for it."""
        ...

    async def current(self, booking_id: BookingId) -> tuple[str, int] | None: ...


class CalendarFeeds(Protocol):
    """Secret feed URLs: only a digest of the token is stored."""

    async def issue(self, owner: str, token_digest: str, at: datetime) -> None:
        """Replace the owner's feed (owner: "customer:<uuid>" or "provider:<uuid>")."""
        ...

    async def owner_of(self, token_digest: str) -> str | None: ...


class Jobs(Protocol):
    """Jobs deferred in the unit of work's transaction: they exist exactly when it commits."""

    async def send_message(self, message_id: MessageId) -> None: ...

    async def schedule_reminder(
        self, booking_id: BookingId, offset_minutes: int, at: datetime
    ) -> None:
        """Idempotent per (booking, offset): scheduling again replaces the pending one."""
        ...

    async def cancel_reminders(self, booking_id: BookingId) -> int:
        """Remove the booking's pending reminder jobs; how many were removed."""
        ...

    async def pending_reminders(self, booking_id: BookingId) -> Sequence[tuple[int, datetime]]:
        """(offset_minutes, scheduled UTC instant) of the booking's pending reminders."""
        ...


class MessagingUnitOfWork(UnitOfWork, Protocol):
    events: EventLog
    people: People
    bookings: Bookings
    messages: Messages
    preferences: Preferences
    reminder_plans: ReminderPlans
    undeliverable: Undeliverable
    windows: ServiceWindows
    calendar: CalendarSequences
    feeds: CalendarFeeds
    jobs: Jobs


# --- policy, rendering and sending ------------------------------------------------------------


class ConsentPolicy(Protocol):
    """Whether `user_id` agreed to `purpose` on `channel`. Today (until the consent ledger):
    transactional and reminders by email always, WhatsApp only with the person's opt-in,
    marketing never."""

    async def allows(
        self, user_id: UserId, purpose: Purpose, channel: Channel, preferences: ContactPreferences
    ) -> bool: ...


@attrs.frozen(kw_only=True)
class Content:
    """What a message says, before a language and a channel shape it."""

    kind: MessageKind
    locale: str
    recipient_name: str | None
    booking: BookingFacts | None = None
    link: str | None = None  # a verification or reset link (holds a secret: never stored)
    refund_minor: int | None = None
    currency: str | None = None
    reminder_before_minutes: int | None = None
    for_provider: bool = False  # the provider's copy of a booking message


@attrs.frozen(kw_only=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@attrs.frozen(kw_only=True)
class WhatsAppTemplate:
    name: str  # an approved template's name, e.g. "booking_confirmed"
    language: str  # WhatsApp's code: "en", "de"
    parameters: tuple[str, ...]  # body {{1}}, {{2}}, ...


class Renderer(Protocol):
    def email(self, content: Content) -> RenderedEmail: ...

    def whatsapp_template(self, content: Content) -> WhatsAppTemplate: ...

    def whatsapp_text(self, content: Content) -> str:
        """Free-form text, allowed only inside the 24-hour service window."""
        ...


class CalendarWriter(Protocol):
    def write(self, entries: Sequence[CalendarEntry], method: CalendarMethod) -> bytes:
        """An RFC 5545 VCALENDAR holding `entries`."""
        ...


@attrs.frozen(kw_only=True)
class Attachment:
    filename: str
    content_type: str  # "text/calendar; method=REQUEST"
    data: bytes


@attrs.frozen(kw_only=True)
class OutgoingEmail:
    message_id: MessageId  # carried as a custom arg; SendGrid echoes it in its events
    to: str
    rendered: RenderedEmail
    category: str  # the message kind
    attachments: tuple[Attachment, ...] = ()


class EmailSender(Protocol):
    async def send(self, email: OutgoingEmail) -> SendReceipt | SendRefused:
        """Raises SendFailedTemporarily for what a retry may fix."""
        ...

    async def find(self, message_id: MessageId) -> SendReceipt | None:
        """After a crash mid-send: did the provider accept this message already?"""
        ...

    async def forget(self, address: str) -> None:
        """Erasure: delete `address` from every list the provider keeps of it (SendGrid: the
        bounces, blocks, spam reports and invalid emails suppression lists). Idempotent (an
        address on no list is fine); raises SendFailedTemporarily when a retry may help. What
        the provider keeps beyond (its activity log of sent mail) expires on its own terms."""
        ...


@attrs.frozen(kw_only=True)
class OutgoingWhatsApp:
    message_id: MessageId  # carried as biz_opaque_callback_data; echoed in status webhooks
    to: str  # E.164
    template: WhatsAppTemplate | None = None  # outside the service window
    text: str | None = None  # inside it


class WhatsAppSender(Protocol):
    """No `forget`: the WhatsApp Cloud API offers no deletion of sent messages or of what Meta
    keeps about a number; erasure deletes our copies only (docs/privacy.md)."""

    async def send(self, message: OutgoingWhatsApp) -> SendReceipt | SendRefused:
        """Raises SendFailedTemporarily for what a retry may fix."""
        ...


class PhoneNumbers(Protocol):
    def to_e164(self, raw: str, region: str | None = None) -> str | None:
        """The number in E.164, or None when it is not a valid number."""
        ...


class Links(Protocol):
    """Where a person acts on a mail: the web client's pages (settings: PUBLIC_WEB_URL)."""

    def verify_email(self, token: str) -> str: ...

    def reset_password(self, token: str) -> str: ...

    def booking(self, booking_id: BookingId) -> str: ...

    def calendar_feed(self, token: str) -> str: ...


# --- providers' webhooks ----------------------------------------------------------------------


class EmailEvents(Protocol):
    """SendGrid's Event Webhook: verified (ECDSA signature over timestamp + body) and read."""

    def reports(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> Sequence[StatusReport] | None:
        """The reports the body holds; None when the signature is missing, wrong or stale."""
        ...


@attrs.frozen(kw_only=True)
class WhatsAppNotice:
    reports: tuple[StatusReport, ...] = ()
    inbound: tuple[tuple[str, datetime], ...] = ()  # (E.164 sender, when): opens the window


class WhatsAppEvents(Protocol):
    """WhatsApp Cloud API webhooks: X-Hub-Signature-256 and the GET verification handshake."""

    def notice(self, body: bytes, headers: Mapping[str, str]) -> WhatsAppNotice | None:
        """None when the signature is missing or wrong."""
        ...

    def handshake(self, mode: str, verify_token: str, challenge: str) -> str | None:
        """The challenge to echo when the subscription request is ours, else None."""
        ...
