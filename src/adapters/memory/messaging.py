"""The messaging context in memory: a transactional store with every repository of
`MessagingUnitOfWork`, a job queue that records what was deferred and when, senders that
record what they sent (and fail on demand), webhook verifiers, a renderer and a calendar
writer for core tests, and `messaging_in_memory()`, which wires every messaging use case.

    app = messaging_in_memory()
    customer = app.person("ada@example.com")
    booking = app.booking(customer.user_id, starts=...)
    event = app.publish(booking_event("booking_confirmed", booking))
    (await app(DispatchEvent)(event.id)).unwrap()
    await app.run_jobs()            # the send jobs the dispatch deferred
    app.email.sent                  # what reached "SendGrid"

Transactions: one unit of work is one transaction at READ COMMITTED: its reads see what was
committed plus its own writes; its writes (jobs included) reach the store on `commit()` and
vanish when it is left without one. The read models of other contexts (events, people,
bookings) are set by the test directly on the store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs

from adapters.memory.clock import FixedClock
from adapters.memory.keyring import MemoryKeyring
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.setup import build
from adapters.memory.transaction import MemoryTransaction
from core.messaging.dispatch import SendReminder
from core.messaging.model import (
    CalendarEntry,
    CalendarMethod,
    ContactPreferences,
    Message,
    MessageId,
    MessageStatus,
    ReminderPlan,
    SendFailedTemporarily,
    SendReceipt,
    SendRefused,
    StatusReport,
)
from core.messaging.policy import DefaultConsentPolicy
from core.messaging.ports import (
    BookingFacts,
    Bookings,
    CalendarFeeds,
    CalendarSequences,
    CalendarWriter,
    ConsentPolicy,
    Content,
    EmailEvents,
    EmailSender,
    EventLog,
    Jobs,
    Links,
    Messages,
    MessagingUnitOfWork,
    OutgoingEmail,
    OutgoingWhatsApp,
    People,
    Person,
    PhoneNumbers,
    Preferences,
    ReminderPlans,
    RenderedEmail,
    Renderer,
    ServiceWindows,
    Undeliverable,
    WhatsAppEvents,
    WhatsAppNotice,
    WhatsAppSender,
    WhatsAppTemplate,
)
from core.messaging.sending import SendMessage
from core.shared.events import Event
from core.shared.ids import BookingId, EventId, ProviderId, UserId
from core.shared.keyring import Keyring
from core.shared.mailed_tokens import mailed_token_purpose
from core.shared.principal import Principal, Role
from core.shared.time import Clock, to_utc
from core.shared.unit_of_work import Access, UnitOfWorkFactory

T = TypeVar("T")
_GONE = object()  # a deleted key in a transaction's writes

TABLES = (
    "messages",
    "dedupe",
    "preferences",
    "undeliverable",
    "windows",
    "chains",  # booking -> calendar UID
    "sequences",  # UID -> last SEQUENCE given
    "feeds",  # owner -> token digest
    "reminders",  # (booking, offset minutes) -> UTC instant
    "plans",  # provider -> its chosen ReminderPlan
    "dispatched",  # event -> when
)


class CommitCrash(RuntimeError):
    """A commit the test asked to fail (`crash_next_commits`): the process died there."""


@attrs.frozen(kw_only=True)
class Account:
    """Identity's user as messaging reads it."""

    email: str
    email_verified: bool = True
    display_name: str | None = None


@attrs.frozen(kw_only=True)
class DeferredJob:
    """A job as the queue got it: task name, arguments, when it is due (None: now)."""

    task: str
    args: Mapping[str, Any]
    schedule_at: datetime | None = None


class MemoryMessagingStore(UnitOfWorkFactory[MessagingUnitOfWork]):
    """The committed state; calling it opens a unit of work. `access` is recorded, not
    enforced: the use cases' checks are the only wall here (PostGIS adds row security)."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Any]] = {name: {} for name in TABLES}
        # other contexts' rows, set by tests
        self.events: dict[EventId, Event] = {}
        self.accounts: dict[UserId, Account] = {}
        self.bookings: dict[BookingId, BookingFacts] = {}
        # the providers' chosen reminder plans (tests may set them; committed table "plans")
        self.plans: dict[ProviderId, ReminderPlan] = self.tables["plans"]
        # committed effects
        self.outbox: list[Event] = []
        self.send_queue: list[MessageId] = []  # send_message jobs not run yet
        self.jobs: list[DeferredJob] = []  # every job deferred, in order
        self.accesses: list[Access] = []
        self.crashes_left = 0
        # Tests: each runs once, just before a `messages.update` compares, in place of a
        # concurrent transaction committing between a read and the write that follows it.
        self.before_update: list[Callable[[Message], Awaitable[None]]] = []

    def __call__(self, access: Access) -> MemoryMessagingUnitOfWork:
        self.accesses.append(access)
        return MemoryMessagingUnitOfWork(self)

    def crash_next_commits(self, n: int = 1) -> None:
        """The next `n` commits raise CommitCrash and write nothing."""
        self.crashes_left = n

    # --- reading the committed state ----------------------------------------------------

    @property
    def messages(self) -> list[Message]:
        """Every committed message, oldest first."""
        return sorted(self.tables["messages"].values(), key=lambda m: (m.created_at, m.id.int))

    def message(self, message_id: MessageId) -> Message:
        found: Message = self.tables["messages"][message_id]
        return found

    @property
    def reminders(self) -> dict[tuple[BookingId, int], datetime]:
        """Pending reminder jobs: (booking, offset minutes) -> UTC instant."""
        return dict(self.tables["reminders"])

    def dispatched_at(self, event_id: EventId) -> datetime | None:
        found: datetime | None = self.tables["dispatched"].get(event_id)
        return found

    def is_undeliverable(self, address: str) -> bool:
        return address.strip().lower() in self.tables["undeliverable"]


class _Tx:
    """One transaction: its writes over the committed tables."""

    def __init__(self, store: MemoryMessagingStore) -> None:
        self.store = store
        self.writes: dict[str, dict[Any, Any]] = {name: {} for name in TABLES}
        self.sends: list[MessageId] = []
        self.jobs: list[DeferredJob] = []

    def get(self, table: str, key: Any) -> Any:
        own = self.writes[table].get(key, None)
        if key in self.writes[table]:
            return None if own is _GONE else own
        return self.store.tables[table].get(key)

    def put(self, table: str, key: Any, value: Any) -> None:
        self.writes[table][key] = value

    def delete(self, table: str, key: Any) -> None:
        self.writes[table][key] = _GONE

    def items(self, table: str) -> list[tuple[Any, Any]]:
        merged = dict(self.store.tables[table])
        for key, value in self.writes[table].items():
            if value is _GONE:
                merged.pop(key, None)
            else:
                merged[key] = value
        return list(merged.items())

    def commit(self) -> None:
        if self.store.crashes_left > 0:
            self.store.crashes_left -= 1
            raise CommitCrash("the process died while committing")
        for table, writes in self.writes.items():
            committed = self.store.tables[table]
            for key, value in writes.items():
                if value is _GONE:
                    committed.pop(key, None)
                else:
                    committed[key] = value
        self.store.send_queue.extend(self.sends)
        self.store.jobs.extend(self.jobs)
        self.reset()

    def reset(self) -> None:
        self.writes = {name: {} for name in TABLES}
        self.sends, self.jobs = [], []


# --- repositories -------------------------------------------------------------------------


class MemoryEventLog(EventLog):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def get(self, event_id: EventId) -> Event | None:
        return self._tx.store.events.get(event_id)

    async def mark_dispatched(self, event_id: EventId, at: datetime) -> None:
        if self._tx.get("dispatched", event_id) is None:
            self._tx.put("dispatched", event_id, at)


class MemoryPeople(People):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def get(self, user_id: UserId) -> Person | None:
        account = self._tx.store.accounts.get(user_id)
        if account is None:
            return None
        preferences = self._tx.get("preferences", user_id) or ContactPreferences(user_id=user_id)
        return Person(
            user_id=user_id,
            email=account.email,
            email_verified=account.email_verified,
            display_name=account.display_name,
            preferences=preferences,
        )


class MemoryBookings(Bookings):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def facts(self, booking_id: BookingId) -> BookingFacts | None:
        return self._tx.store.bookings.get(booking_id)

    async def of_customer(self, user_id: UserId) -> Sequence[BookingFacts]:
        rows = [b for b in self._tx.store.bookings.values() if b.customer_id == user_id]
        return sorted(rows, key=lambda b: b.starts)

    async def of_provider(self, provider_id: ProviderId) -> Sequence[BookingFacts]:
        rows = [b for b in self._tx.store.bookings.values() if b.provider_id == provider_id]
        return sorted(rows, key=lambda b: b.starts)

    async def reminder_plan(self, provider_id: ProviderId) -> ReminderPlan:
        chosen: ReminderPlan | None = self._tx.get("plans", provider_id)
        return chosen if chosen is not None else ReminderPlan()


class MemoryReminderPlans(ReminderPlans):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def get(self, provider_id: ProviderId) -> ReminderPlan | None:
        chosen: ReminderPlan | None = self._tx.get("plans", provider_id)
        return chosen

    async def put(self, provider_id: ProviderId, plan: ReminderPlan) -> None:
        self._tx.put("plans", provider_id, plan)


def _order(message: Message) -> tuple[datetime, int]:
    return (message.created_at, message.id.int)


class MemoryMessages(Messages):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def add(self, message: Message) -> bool:
        if self._tx.get("dedupe", message.dedupe_key) is not None:
            return False
        if self._tx.get("messages", message.id) is not None:
            raise ValueError(f"message {message.id} exists")
        self._tx.put("dedupe", message.dedupe_key, message.id)
        self._tx.put("messages", message.id, message)
        return True

    async def get(self, message_id: MessageId) -> Message | None:
        found: Message | None = self._tx.get("messages", message_id)
        return found

    async def by_provider_id(self, provider_message_id: str) -> Message | None:
        for _, message in self._tx.items("messages"):
            if message.provider_message_id == provider_message_id:
                found: Message = message
                return found
        return None

    async def update(self, message: Message, *, expected: MessageStatus) -> bool:
        stored: Message | None = self._tx.get("messages", message.id)
        if stored is None:
            return False
        hook = self._tx.store.before_update.pop(0) if self._tx.store.before_update else None
        if hook is not None:
            await hook(message)  # a concurrent writer commits first (tests)
            stored = self._tx.get("messages", message.id)
        if stored is None or stored.status is not expected:
            return False
        self._tx.put("messages", message.id, message)
        return True

    async def advance(self, report: StatusReport) -> Message | None:
        message = None
        if report.message_id is not None:
            message = await self.get(report.message_id)
        if message is None and report.provider_message_id is not None:
            message = await self.by_provider_id(report.provider_message_id)
        if message is None or report.status.rank <= message.status.rank:
            return None
        moved = attrs.evolve(
            message,
            status=report.status,
            provider_message_id=message.provider_message_id or report.provider_message_id,
            last_error=report.detail if report.detail is not None else message.last_error,
            updated_at=report.at,
        )
        self._tx.put("messages", moved.id, moved)
        return moved

    async def list(
        self,
        *,
        recipient_id: UserId | None = None,
        provider_id: ProviderId | None = None,
        status: MessageStatus | None = None,
        before: MessageId | None = None,
        limit: int = 50,
    ) -> Sequence[Message]:
        rows: list[Message] = [m for _, m in self._tx.items("messages")]
        if recipient_id is not None:
            rows = [m for m in rows if m.recipient_id == recipient_id]
        if provider_id is not None:
            rows = [m for m in rows if m.provider_id == provider_id]
        if status is not None:
            rows = [m for m in rows if m.status is status]
        rows.sort(key=_order, reverse=True)
        if before is not None:
            cursor = self._tx.get("messages", before)
            if cursor is None:
                return []
            rows = [m for m in rows if _order(m) < _order(cursor)]
        return rows[: max(limit, 0)]


class MemoryPreferences(Preferences):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def get(self, user_id: UserId) -> ContactPreferences | None:
        found: ContactPreferences | None = self._tx.get("preferences", user_id)
        return found

    async def put(self, preferences: ContactPreferences) -> None:
        self._tx.put("preferences", preferences.user_id, preferences)


def _address_key(address: str) -> str:
    return address.strip().lower()


class MemoryUndeliverable(Undeliverable):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def mark(self, address: str, reason: str, at: datetime) -> None:
        if self._tx.get("undeliverable", _address_key(address)) is None:
            self._tx.put("undeliverable", _address_key(address), (reason, at))

    async def contains(self, address: str) -> bool:
        return self._tx.get("undeliverable", _address_key(address)) is not None


class MemoryServiceWindows(ServiceWindows):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def opened(self, phone: str, at: datetime) -> None:
        last = self._tx.get("windows", phone)
        if last is None or at > last:
            self._tx.put("windows", phone, to_utc(at))

    async def last_inbound(self, phone: str) -> datetime | None:
        found: datetime | None = self._tx.get("windows", phone)
        return found


class MemoryCalendarSequences(CalendarSequences):
    """A chain's UID is its first booking's: `{booking id}@reserva`."""

    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def next(
        self, booking_id: BookingId, rescheduled_from: BookingId | None
    ) -> tuple[str, int]:
        uid: str | None = self._tx.get("chains", booking_id)
        if uid is None and rescheduled_from is not None:
            uid = self._tx.get("chains", rescheduled_from)
        if uid is None:
            uid = f"{rescheduled_from or booking_id}@reserva"
        self._tx.put("chains", booking_id, uid)
        sequence = (self._tx.get("sequences", uid) or 0) + 1
        self._tx.put("sequences", uid, sequence)
        return uid, sequence

    async def current(self, booking_id: BookingId) -> tuple[str, int] | None:
        uid: str | None = self._tx.get("chains", booking_id)
        if uid is None:
            return None
        sequence: int = self._tx.get("sequences", uid) or 0
        return uid, sequence


class MemoryCalendarFeeds(CalendarFeeds):
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def issue(self, owner: str, token_digest: str, at: datetime) -> None:
        self._tx.put("feeds", owner, token_digest)

    async def owner_of(self, token_digest: str) -> str | None:
        for owner, digest in self._tx.items("feeds"):
            if hmac.compare_digest(digest, token_digest):
                found: str = owner
                return found
        return None


class MemoryJobs(Jobs):
    """Deferred with the transaction: the store's `send_queue` and `jobs` get them on commit;
    reminders are the `reminders` table, one per (booking, offset)."""

    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def send_message(self, message_id: MessageId) -> None:
        self._tx.sends.append(message_id)
        self._tx.jobs.append(DeferredJob(task="send_message", args={"message_id": message_id}))

    async def schedule_reminder(
        self, booking_id: BookingId, offset_minutes: int, at: datetime
    ) -> None:
        self._tx.put("reminders", (booking_id, offset_minutes), to_utc(at))
        self._tx.jobs.append(
            DeferredJob(
                task="send_reminder",
                args={"booking_id": booking_id, "offset_minutes": offset_minutes},
                schedule_at=to_utc(at),
            )
        )

    async def cancel_reminders(self, booking_id: BookingId) -> int:
        keys = [key for key, _ in self._tx.items("reminders") if key[0] == booking_id]
        for key in keys:
            self._tx.delete("reminders", key)
        return len(keys)

    async def pending_reminders(self, booking_id: BookingId) -> Sequence[tuple[int, datetime]]:
        rows = [(key[1], at) for key, at in self._tx.items("reminders") if key[0] == booking_id]
        return sorted(rows, key=lambda row: row[1])


class MemoryMessagingUnitOfWork(MemoryTransaction, MessagingUnitOfWork):
    def __init__(self, store: MemoryMessagingStore) -> None:
        self._store = store
        self._tx = _Tx(store)
        self.outbox = MemoryOutbox()
        self.events = MemoryEventLog(self._tx)
        self.people = MemoryPeople(self._tx)
        self.bookings = MemoryBookings(self._tx)
        self.messages = MemoryMessages(self._tx)
        self.preferences = MemoryPreferences(self._tx)
        self.reminder_plans = MemoryReminderPlans(self._tx)
        self.undeliverable = MemoryUndeliverable(self._tx)
        self.windows = MemoryServiceWindows(self._tx)
        self.calendar = MemoryCalendarSequences(self._tx)
        self.feeds = MemoryCalendarFeeds(self._tx)
        self.jobs = MemoryJobs(self._tx)

    def _discard(self) -> None:
        self._tx.reset()
        self.outbox.drop()

    async def commit(self) -> None:
        self._tx.commit()
        self._store.outbox.extend(self.outbox.take())


# --- senders ------------------------------------------------------------------------------


class LostResponse(ConnectionError):
    """The provider accepted the message but its answer never came back."""


@attrs.define
class _Failures:
    """What the next sends do: "temporary" (SendFailedTemporarily), "refuse" (SendRefused),
    "lose" (accepted, then the answer is lost: LostResponse)."""

    queue: list[str] = attrs.field(factory=list)

    def add(self, n: int, how: str) -> None:
        if how not in ("temporary", "refuse", "lose"):
            raise ValueError(how)
        self.queue.extend([how] * n)

    def next(self) -> str | None:
        return self.queue.pop(0) if self.queue else None


class MemoryEmailSender(EmailSender):
    """Records every accepted mail (`sent`) with the id it answered; `find` knows them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, OutgoingEmail]] = []
        self.forgotten: list[str] = []  # addresses `forget` was asked to delete (erasure)
        self.calls = 0
        self._failures = _Failures()

    def fail_next(self, n: int = 1, how: str = "temporary") -> None:
        self._failures.add(n, how)

    async def send(self, email: OutgoingEmail) -> SendReceipt | SendRefused:
        self.calls += 1
        how = self._failures.next()
        if how == "temporary":
            raise SendFailedTemporarily("503 from the provider")
        if how == "refuse":
            return SendRefused(reason="400: invalid recipient")
        provider_id = f"sg-{uuid.uuid4().hex}"
        self.sent.append((provider_id, email))
        if how == "lose":
            raise LostResponse("connection reset after the request was sent")
        return SendReceipt(provider_message_id=provider_id)

    async def find(self, message_id: MessageId) -> SendReceipt | None:
        for provider_id, email in self.sent:
            if email.message_id == message_id:
                return SendReceipt(provider_message_id=provider_id)
        return None

    async def forget(self, address: str) -> None:
        self.forgotten.append(address)

    def to(self, address: str) -> list[OutgoingEmail]:
        return [email for _, email in self.sent if email.to == address]


class MemoryWhatsAppSender(WhatsAppSender):
    def __init__(self) -> None:
        self.sent: list[tuple[str, OutgoingWhatsApp]] = []
        self.calls = 0
        self._failures = _Failures()

    def fail_next(self, n: int = 1, how: str = "temporary") -> None:
        self._failures.add(n, how)

    async def send(self, message: OutgoingWhatsApp) -> SendReceipt | SendRefused:
        self.calls += 1
        how = self._failures.next()
        if how == "temporary":
            raise SendFailedTemporarily("429 from the provider")
        if how == "refuse":
            return SendRefused(reason="131026: message undeliverable")
        provider_id = f"wamid.{uuid.uuid4().hex}"
        self.sent.append((provider_id, message))
        if how == "lose":
            raise LostResponse("connection reset after the request was sent")
        return SendReceipt(provider_message_id=provider_id)


# --- webhooks -----------------------------------------------------------------------------

SIGNATURE_HEADER = "X-Memory-Signature"


def _report_json(report: StatusReport) -> dict[str, Any]:
    return {
        "message_id": str(report.message_id) if report.message_id else None,
        "provider_message_id": report.provider_message_id,
        "status": report.status.value,
        "at": report.at.isoformat(),
        "detail": report.detail,
        "hard_bounce": report.hard_bounce,
    }


def _report_of(row: Mapping[str, Any]) -> StatusReport:
    return StatusReport(
        message_id=MessageId(uuid.UUID(row["message_id"])) if row["message_id"] else None,
        provider_message_id=row["provider_message_id"],
        status=MessageStatus(row["status"]),
        at=datetime.fromisoformat(row["at"]),
        detail=row["detail"],
        hard_bounce=row["hard_bounce"],
    )


class _Signer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def signature(self, body: bytes) -> str:
        return hmac.new(self._secret, body, hashlib.sha256).hexdigest()

    def verified(self, body: bytes, headers: Mapping[str, str]) -> bool:
        given = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE_HEADER.lower())
        return given is not None and hmac.compare_digest(given, self.signature(body))


class MemoryEmailEvents(EmailEvents):
    """Bodies are JSON lists of reports, signed with an HMAC in `X-Memory-Signature`."""

    def __init__(self, secret: bytes = b"memory-email-events") -> None:
        self._signer = _Signer(secret)

    def signed(self, *reports: StatusReport) -> tuple[bytes, dict[str, str]]:
        body = json.dumps([_report_json(r) for r in reports]).encode()
        return body, {SIGNATURE_HEADER: self._signer.signature(body)}

    def reports(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> Sequence[StatusReport] | None:
        if not self._signer.verified(body, headers):
            return None
        return [_report_of(row) for row in json.loads(body)]


class MemoryWhatsAppEvents(WhatsAppEvents):
    """Bodies are JSON {"reports": [...], "inbound": [[phone, iso instant], ...]}."""

    def __init__(
        self,
        secret: bytes = b"memory-whatsapp-app-secret",
        verify_token: str = "verify-me",  # noqa: S107 (a test value)
    ) -> None:
        self._signer = _Signer(secret)
        self._verify_token = verify_token

    def signed(
        self, reports: Sequence[StatusReport] = (), inbound: Sequence[tuple[str, datetime]] = ()
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(
            {
                "reports": [_report_json(r) for r in reports],
                "inbound": [[phone, at.isoformat()] for phone, at in inbound],
            }
        ).encode()
        return body, {SIGNATURE_HEADER: self._signer.signature(body)}

    def notice(self, body: bytes, headers: Mapping[str, str]) -> WhatsAppNotice | None:
        if not self._signer.verified(body, headers):
            return None
        data = json.loads(body)
        return WhatsAppNotice(
            reports=tuple(_report_of(row) for row in data["reports"]),
            inbound=tuple((phone, datetime.fromisoformat(at)) for phone, at in data["inbound"]),
        )

    def handshake(self, mode: str, verify_token: str, challenge: str) -> str | None:
        ok = mode == "subscribe" and hmac.compare_digest(verify_token, self._verify_token)
        return challenge if ok else None


# --- rendering, calendars, numbers, links -------------------------------------------------


def _describe(content: Content) -> list[str]:
    lines = [f"kind: {content.kind.value}", f"to: {content.recipient_name or ''}"]
    if content.link:
        lines.append(f"link: {content.link}")
    if content.booking is not None:
        lines.append(f"booking: {content.booking.booking_id} {content.booking.offering_name}")
        lines.append(f"starts: {content.booking.starts.isoformat()}")
    if content.refund_minor is not None:
        lines.append(f"refund: {content.refund_minor} {content.currency}")
    if content.reminder_before_minutes is not None:
        lines.append(f"before: {content.reminder_before_minutes} minutes")
    if content.for_provider:
        lines.append("copy: provider")
    return lines


class FakeRenderer(Renderer):
    """Plain lines naming what the content holds (the real one is adapters.rendering)."""

    def email(self, content: Content) -> RenderedEmail:
        text = "\n".join(_describe(content))
        return RenderedEmail(
            subject=f"[{content.locale}] {content.kind.value}",
            html=f"<pre>{text}</pre>",
            text=text,
        )

    def whatsapp_template(self, content: Content) -> WhatsAppTemplate:
        parameters = tuple(_describe(content)[1:])
        return WhatsAppTemplate(
            name=content.kind.value, language=content.locale, parameters=parameters
        )

    def whatsapp_text(self, content: Content) -> str:
        return "\n".join(_describe(content))


def _ics_instant(at: datetime) -> str:
    return to_utc(at).strftime("%Y%m%dT%H%M%SZ")


class FakeCalendarWriter(CalendarWriter):
    """A minimal VCALENDAR, enough for core tests to read UID, SEQUENCE and METHOD back."""

    def write(self, entries: Sequence[CalendarEntry], method: CalendarMethod) -> bytes:
        lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Reserva//memory//EN"]
        lines.append(f"METHOD:{method.value}")
        for entry in entries:
            lines += [
                "BEGIN:VEVENT",
                f"UID:{entry.uid}",
                f"SEQUENCE:{entry.sequence}",
                f"DTSTAMP:{_ics_instant(entry.stamp)}",
                f"DTSTART:{_ics_instant(entry.starts)}",
                f"DTEND:{_ics_instant(entry.ends)}",
                f"SUMMARY:{entry.summary}",
                f"LOCATION:{entry.location}",
                f"STATUS:{'CANCELLED' if entry.cancelled else 'CONFIRMED'}",
                "END:VEVENT",
            ]
        lines.append("END:VCALENDAR")
        return ("\r\n".join(lines) + "\r\n").encode()


_CALLING_CODES = {"DE": "49", "AT": "43", "CH": "41", "GB": "44", "FR": "33", "US": "1"}
_SEPARATORS = re.compile(r"[\s\-().]")


class MemoryPhoneNumbers(PhoneNumbers):
    """E.164 by shape only (+, 8 to 15 digits, no leading 0; 00 and national 0 prefixes for a
    few regions); the real one is `phonenumbers`' metadata (adapters.whatsapp)."""

    def to_e164(self, raw: str, region: str | None = None) -> str | None:
        cleaned = _SEPARATORS.sub("", raw.strip())
        if cleaned.startswith("00"):
            cleaned = "+" + cleaned[2:]
        elif cleaned.startswith("0") and region is not None and region.upper() in _CALLING_CODES:
            cleaned = f"+{_CALLING_CODES[region.upper()]}{cleaned[1:]}"
        digits = cleaned[1:]
        valid = (
            cleaned.startswith("+")
            and digits.isascii()
            and digits.isdigit()
            and 8 <= len(digits) <= 15
            and not digits.startswith("0")
        )
        return cleaned if valid else None


@attrs.frozen
class MemoryLinks(Links):
    base: str = "https://app.test"

    def verify_email(self, token: str) -> str:
        return f"{self.base}/verify-email?token={token}"

    def reset_password(self, token: str) -> str:
        return f"{self.base}/reset-password?token={token}"

    def booking(self, booking_id: BookingId) -> str:
        return f"{self.base}/bookings/{booking_id}"

    def calendar_feed(self, token: str) -> str:
        return f"{self.base}/calendar/{token}.ics"


# --- wiring -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class MessagingPorts:
    """Every port a messaging use case may name, by the field names the use cases use."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]
    clock: Clock
    keyring: Keyring
    consent: ConsentPolicy
    renderer: Renderer
    calendar_writer: CalendarWriter
    links: Links
    email: EmailSender
    whatsapp: WhatsAppSender
    phones: PhoneNumbers
    email_events: EmailEvents
    whatsapp_events: WhatsAppEvents

    def __call__(self, use_case: type[T]) -> T:
        return build(use_case, self)


def _principal(*roles: Role, providers: frozenset[ProviderId] = frozenset()) -> Principal:
    return Principal(
        user_id=UserId(uuid.uuid4()), roles=frozenset(roles), provider_ids=providers, mfa=True
    )


@attrs.frozen(kw_only=True)
class InMemoryMessaging:
    """Call it with a use-case class to get that use case, ready to call."""

    clock: FixedClock
    store: MemoryMessagingStore
    keyring: MemoryKeyring
    email: MemoryEmailSender
    whatsapp: MemoryWhatsAppSender
    email_events: MemoryEmailEvents
    whatsapp_events: MemoryWhatsAppEvents
    ports: MessagingPorts
    admin: Principal = attrs.field(factory=lambda: _principal(Role.ADMIN))

    def __call__(self, use_case: type[T]) -> T:
        return self.ports(use_case)

    def person(
        self,
        email: str | None = None,
        *,
        name: str | None = None,
        roles: tuple[Role, ...] = (Role.CUSTOMER,),
        providers: frozenset[ProviderId] = frozenset(),
    ) -> Principal:
        """A new account (identity's side) and the principal its access token gives."""
        user = Principal(
            user_id=UserId(uuid.uuid4()),
            roles=frozenset(roles),
            provider_ids=providers,
            mfa=Role.STAFF in roles or Role.ADMIN in roles,
        )
        address = email or f"{user.user_id.hex[:12]}@example.com"
        self.store.accounts[user.user_id] = Account(email=address, display_name=name)
        return user

    def staff(self, provider_id: ProviderId, email: str | None = None) -> Principal:
        return self.person(email, roles=(Role.STAFF,), providers=frozenset({provider_id}))

    def booking(
        self,
        customer_id: UserId,
        *,
        starts: datetime,
        duration: timedelta = timedelta(hours=1),
        provider_id: ProviderId | None = None,
        status: str = "confirmed",
        staff: Sequence[UserId] = (),
        time_zone: str = "Europe/Berlin",
        rescheduled_from: BookingId | None = None,
    ) -> BookingFacts:
        """A booking as the bookings context would show it to messaging."""
        facts = BookingFacts(
            booking_id=BookingId(uuid.uuid4()),
            provider_id=provider_id or ProviderId(uuid.uuid4()),
            customer_id=customer_id,
            status=status,
            starts=to_utc(starts),
            ends=to_utc(starts) + duration,
            time_zone=time_zone,
            offering_name="Haircut",
            provider_name="Salon Ada",
            place_name="Main street",
            place_address="Hauptstr. 1, 10115 Berlin",
            seats=1,
            price_minor=2500,
            currency="EUR",
            rescheduled_from=rescheduled_from,
            staff_ids=tuple(staff),
        )
        self.store.bookings[facts.booking_id] = facts
        return facts

    def set_booking(self, facts: BookingFacts, **changes: Any) -> BookingFacts:
        """The booking changed in the bookings context (cancelled, say)."""
        changed = attrs.evolve(facts, **changes)
        self.store.bookings[facts.booking_id] = changed
        return changed

    def publish(self, event: Event) -> Event:
        """An event committed to the outbox by another context."""
        self.store.events[event.id] = event
        return event

    async def account_mail(self, event_name: str, user: Principal) -> tuple[Event, str]:
        """An account mail event as identity writes it (a token sealed for the event and
        the user), and the raw token."""
        token = uuid.uuid4().hex
        sealed = await self.keyring.seal(
            token.encode(), purpose=mailed_token_purpose(event_name, user.user_id)
        )
        event = Event(
            name=event_name,
            occurred_at=self.clock.now(),
            payload={
                "user_id": str(user.user_id),
                "email": self.store.accounts[user.user_id].email,
                "sealed_token": base64.b64encode(sealed.to_bytes()).decode(),
            },
        )
        return self.publish(event), token

    async def run_jobs(self, *, final_attempt: bool = False) -> int:
        """Run the queued send_message jobs (and the ones they queue) until none is left;
        how many ran. A job that raises stays queued and the exception propagates."""
        ran = 0
        send = self(SendMessage)
        while self.store.send_queue:
            message_id = self.store.send_queue[0]
            await send(message_id, final_attempt)
            self.store.send_queue.pop(0)
            ran += 1
        return ran

    async def run_due_reminders(self) -> int:
        """Run the reminder jobs due at the clock's time (they leave the queue); how many."""
        remind = self(SendReminder)
        due = sorted(
            (key for key, at in self.store.reminders.items() if at <= self.clock.now()),
            key=lambda key: self.store.reminders[key],
        )
        for booking_id, minutes in due:
            del self.store.tables["reminders"][(booking_id, minutes)]
            await remind(booking_id, minutes)
        return len(due)


def messaging_in_memory(now: datetime | None = None) -> InMemoryMessaging:
    """Empty stores and a clock stopped at `now` (default: the current instant)."""
    clock = FixedClock(now or datetime.now(UTC))
    store, keyring = MemoryMessagingStore(), MemoryKeyring()
    email, whatsapp = MemoryEmailSender(), MemoryWhatsAppSender()
    email_events, whatsapp_events = MemoryEmailEvents(), MemoryWhatsAppEvents()
    ports = MessagingPorts(
        uow=store,
        clock=clock,
        keyring=keyring,
        consent=DefaultConsentPolicy(),
        renderer=FakeRenderer(),
        calendar_writer=FakeCalendarWriter(),
        links=MemoryLinks(),
        email=email,
        whatsapp=whatsapp,
        phones=MemoryPhoneNumbers(),
        email_events=email_events,
        whatsapp_events=whatsapp_events,
    )
    return InMemoryMessaging(
        clock=clock,
        store=store,
        keyring=keyring,
        email=email,
        whatsapp=whatsapp,
        email_events=email_events,
        whatsapp_events=whatsapp_events,
        ports=ports,
    )
