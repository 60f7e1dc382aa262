"""Webhooks for integrators: endpoints, their signing secrets, deliveries and the rules of each.

An endpoint is an HTTPS URL a provider registered for some of its booking events. Every
delivery is signed the way Stripe signs its own webhooks: the header

    Reserva-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]

carries one `v1` per valid secret, each HMAC-SHA256(secret, f"{t}.{raw body}"). A rotation
keeps the previous secret valid for `PREVIOUS_SECRET_GRACE` (24 h), so integrators can deploy
the new one without dropping a delivery. Secrets are `whsec_` + 32 random bytes (hex), stored
only sealed with the keyring (purpose `integrations.webhook_secret/<endpoint id>`).

A delivery is one event to one endpoint (unique per pair); it is tried at once, then retried
with exponential back-off (`retry_at`) until `RETRY_SPAN` (24 h) after it was created; the
attempt at the end of the span that fails too makes it dead. Every attempt's response (status,
first kilobyte of the body, latency) is kept on the delivery.

An attempt under way is visible: the run making it first claims the delivery (status pending,
`next_attempt_at` at the end of ATTEMPT_LEASE), so a redelivery asked meanwhile is refused and a
second job of the same attempt waits for the lease instead of posting the same body twice.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta
from typing import Any, NewType
from urllib.parse import urlsplit

import attrs
from returns.result import Failure, Result, Success

from core.shared.errors import DomainError, InvalidInput
from core.shared.events import Event
from core.shared.ids import EventId, ProviderId
from core.shared.keyring import Sealed
from core.shared.text import refused_character

EndpointId = NewType("EndpointId", uuid.UUID)
DeliveryId = NewType("DeliveryId", uuid.UUID)

SIGNATURE_HEADER = "Reserva-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 32
PREVIOUS_SECRET_GRACE = timedelta(hours=24)
RETRY_SPAN = timedelta(hours=24)
FIRST_RETRY = timedelta(minutes=1)
BACKOFF_FACTOR = 3
URL_MAX = 2048
RESPONSE_BODY_MAX = 1024  # bytes of a response body kept on the delivery
ENDPOINTS_PER_PROVIDER = 16
ATTEMPT_LEASE = timedelta(minutes=2)  # an attempt under way; well past the poster's timeout


def secret_purpose(endpoint_id: EndpointId) -> str:
    """The keyring purpose of an endpoint's signing secrets: a sealed secret copied onto
    another endpoint's row does not open."""
    return f"integrations.webhook_secret/{endpoint_id}"


class EventType(enum.StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"
    PAID = "paid"
    REFUNDED = "refunded"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # not tried yet, redelivered, or an attempt under way (claimed)
    FAILED = "failed"  # the last attempt failed; another is scheduled at next_attempt_at
    SUCCEEDED = "succeeded"  # a 2xx answer
    DEAD = "dead"  # every attempt of the 24 h span failed


# --- errors ----------------------------------------------------------------------------------


@attrs.frozen
class TooManyEndpoints(DomainError):
    limit: int = ENDPOINTS_PER_PROVIDER

    @property
    def detail(self) -> str:
        return f"a provider may register at most {self.limit} active webhook endpoints"


@attrs.frozen
class EndpointDisabled(DomainError):
    @property
    def detail(self) -> str:
        return "this webhook endpoint is disabled"


@attrs.frozen
class DeliveryInProgress(DomainError):
    @property
    def detail(self) -> str:
        return "an attempt of this delivery is queued or under way; see its result first"


# --- values ----------------------------------------------------------------------------------


def parse_url(raw: str) -> Result[str, InvalidInput]:
    """An endpoint URL: https, a host, no credentials, no fragment, at most URL_MAX characters,
    no control or bidirectional characters (NUL included) and no spaces."""

    def refuse(reason: str) -> Result[str, InvalidInput]:
        return Failure(InvalidInput(field="url", reason=reason))

    if not raw or len(raw) > URL_MAX:
        return refuse(f"must be 1 to {URL_MAX} characters")
    refused = refused_character(raw)
    if refused is not None:
        code = f"U+{ord(refused):04X}"
        return refuse(f"must not contain control or bidirectional characters ({code})")
    if any(char.isspace() for char in raw):
        return refuse("must not contain spaces")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return refuse("is not a valid URL")
    if parts.scheme.lower() != "https":
        return refuse("must be an https:// URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return refuse("must not carry credentials")
    if not parts.hostname:
        return refuse("must name a host")
    if parts.fragment:
        return refuse("must not have a fragment")
    if port == 0:
        return refuse("must not use port 0")
    return Success(raw)


def parse_event_types(raw: list[str]) -> Result[frozenset[EventType], InvalidInput]:
    """A non-empty subset of the event types, named by value."""
    if not raw:
        return Failure(InvalidInput(field="event_types", reason="name at least one event type"))
    known = {member.value: member for member in EventType}
    unknown = sorted({name for name in raw if name not in known})
    if unknown:
        allowed = ", ".join(known)
        reason = f"unknown event types {unknown}; allowed: {allowed}"
        return Failure(InvalidInput(field="event_types", reason=reason))
    return Success(frozenset(known[name] for name in raw))


def new_secret(random: bytes) -> str:
    if len(random) != SECRET_BYTES:
        raise ValueError(f"a signing secret needs {SECRET_BYTES} random bytes")
    return SECRET_PREFIX + random.hex()


@attrs.frozen(kw_only=True)
class SealedSecret:
    """A signing secret as stored: sealed; `expires_at` is set on the previous secret only."""

    sealed: Sealed
    created_at: datetime
    expires_at: datetime | None = None

    def valid_at(self, at: datetime) -> bool:
        return self.expires_at is None or at < self.expires_at


@attrs.frozen(kw_only=True)
class Endpoint:
    id: EndpointId
    provider_id: ProviderId
    url: str
    event_types: frozenset[EventType]
    active: bool
    created_at: datetime
    secret: SealedSecret = attrs.field(repr=False)
    previous_secret: SealedSecret | None = attrs.field(default=None, repr=False)
    description: str = ""

    def secrets_at(self, at: datetime) -> tuple[SealedSecret, ...]:
        """The secrets a delivery at `at` is signed with: the current one first."""
        previous = self.previous_secret
        if previous is not None and previous.valid_at(at):
            return (self.secret, previous)
        return (self.secret,)

    def rotated(self, secret: Sealed, at: datetime) -> Endpoint:
        """A new current secret; the old one stays valid for PREVIOUS_SECRET_GRACE."""
        previous = attrs.evolve(self.secret, expires_at=at + PREVIOUS_SECRET_GRACE)
        return attrs.evolve(
            self, secret=SealedSecret(sealed=secret, created_at=at), previous_secret=previous
        )

    def wants(self, event_type: EventType) -> bool:
        return self.active and event_type in self.event_types


def signature_header(secrets: tuple[str, ...], timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex>[,v1=<hex>]`: HMAC-SHA256 over f"{t}." + body with each secret."""
    signed = f"{timestamp}.".encode() + body
    parts = [f"t={timestamp}"]
    for secret in secrets:
        digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        parts.append(f"v1={digest}")
    return ",".join(parts)


@attrs.frozen(kw_only=True)
class PostOutcome:
    """What an endpoint answered (or why nothing answered: `status` None and `error`)."""

    status: int | None
    body: str = ""  # at most the first RESPONSE_BODY_MAX bytes, decoded leniently
    latency_ms: int = 0
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@attrs.frozen(kw_only=True)
class Attempt:
    number: int
    at: datetime
    outcome: PostOutcome


def retry_at(created_at: datetime, failed_attempts: int, failed_at: datetime) -> datetime | None:
    """When to try again after `failed_attempts` failures (the last at `failed_at`), or None:
    dead. Gaps grow by BACKOFF_FACTOR from FIRST_RETRY (1 min, 3, 9, 27 min, 1 h 21, 4 h 3,
    12 h 9); the last retry is at the end of the span, RETRY_SPAN after creation."""
    deadline = created_at + RETRY_SPAN
    if failed_attempts < 1:
        raise ValueError("retry_at is for a delivery that failed at least once")
    if failed_at >= deadline:
        return None
    growth: int = BACKOFF_FACTOR ** min(failed_attempts - 1, 20)  # past 3**20 min: the span
    gap = FIRST_RETRY * growth
    return min(failed_at + gap, deadline)


@attrs.frozen(kw_only=True)
class Delivery:
    id: DeliveryId
    endpoint_id: EndpointId
    event_id: EventId
    event_type: EventType
    payload: dict[str, Any]
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    attempt_log: tuple[Attempt, ...] = ()  # every attempt, oldest first

    @property
    def last(self) -> Attempt | None:
        return self.attempt_log[-1] if self.attempt_log else None

    def tried(self, outcome: PostOutcome, at: datetime) -> Delivery:
        """The delivery after one more attempt: succeeded, failed with a retry, or dead."""
        number = self.attempts + 1
        log = (*self.attempt_log, Attempt(number=number, at=at, outcome=outcome))
        if outcome.succeeded:
            status, next_at = DeliveryStatus.SUCCEEDED, None
        else:
            next_at = retry_at(self.created_at, number, at)
            status = DeliveryStatus.DEAD if next_at is None else DeliveryStatus.FAILED
        return attrs.evolve(
            self, status=status, attempts=number, next_attempt_at=next_at, attempt_log=log
        )

    def claimed(self, until: datetime) -> Delivery:
        """An attempt under way until `until` at the latest (pending; see ATTEMPT_LEASE)."""
        return attrs.evolve(self, status=DeliveryStatus.PENDING, next_attempt_at=until)

    def redelivered(self, at: datetime) -> Delivery:
        """A manual retry, due now: the same delivery tried once more (its body unchanged)."""
        return attrs.evolve(self, status=DeliveryStatus.PENDING, next_attempt_at=at)

    def abandoned(self, reason: str, at: datetime) -> Delivery:
        """Dead without a request: its endpoint was disabled meanwhile."""
        number = self.attempts + 1
        outcome = PostOutcome(status=None, error=reason)
        log = (*self.attempt_log, Attempt(number=number, at=at, outcome=outcome))
        return attrs.evolve(
            self, status=DeliveryStatus.DEAD, attempts=number, next_attempt_at=None, attempt_log=log
        )

    def body(self) -> bytes:
        """The exact bytes sent and signed (stable key order, compact)."""
        return json.dumps(self.payload, separators=(",", ":"), sort_keys=True).encode()


# --- from outbox events ----------------------------------------------------------------------

_BOOKING_FIELDS = (
    "booking_id",
    "offering_id",
    "provider_id",
    "start",
    "end",
    "seats",
    "status",
    "rescheduled_from",
    "paid",
    "cancelled_at",
    "cancelled_by",
)
_PAYMENT_FIELDS = (
    "payment_id",
    "booking_id",
    "provider_id",
    "part",
    "amount_minor",
    "currency",
    "status",
    "refund_id",
    "refund_minor",
    "reason",
    "refund_status",
)
_FIXED: dict[str, EventType] = {
    "bookings.booking_confirmed": EventType.CONFIRMED,
    "bookings.booking_cancelled": EventType.CANCELLED,
    "bookings.booking_rescheduled": EventType.RESCHEDULED,
    "payments.payment_succeeded": EventType.PAID,
    "payments.refund_succeeded": EventType.REFUNDED,
}


def event_type_of(event: Event) -> EventType | None:
    """The webhook event type an outbox event becomes, if any. A hold that is the new side of a
    reschedule (its payload names `rescheduled_from`) is `rescheduled`, like the old side."""
    if event.name == "bookings.slot_held":
        return EventType.RESCHEDULED if event.payload.get("rescheduled_from") else EventType.HELD
    return _FIXED.get(event.name)


def provider_of(event: Event) -> ProviderId | None:
    raw = event.payload.get("provider_id")
    try:
        return ProviderId(uuid.UUID(str(raw))) if raw else None
    except ValueError:
        return None


def webhook_payload(event: Event, event_type: EventType) -> dict[str, Any]:
    """What an integrator receives: ids, times and statuses only, never personal data (no
    customer, no names, no contact details). `id` is the event's: integrators dedupe by it."""
    fields = _PAYMENT_FIELDS if event.name.startswith("payments.") else _BOOKING_FIELDS
    data = {name: event.payload[name] for name in fields if name in event.payload}
    return {
        "id": str(event.id),
        "type": event_type.value,
        "source": event.name,
        "created": int(event.occurred_at.timestamp()),
        "occurred_at": event.occurred_at.isoformat(),
        "data": data,
    }
