"""Server-side analytics (Google Analytics 4 through its Measurement Protocol), with consent
and without personal data (docs/adr/0029-server-side-analytics.md).

A few outbox events become analytics events: a registration is a `sign_up`, a confirmed
booking a `purchase`, a cancelled one `booking_cancelled`, a refund paid back a `refund`.
What leaves is decided here, by an allow-list, never by copying a payload:

- the client id is a keyed pseudonym of the user id (`PersonalData.lookup_hash`, field
  "analytics.client_id"); an anonymous id (a cookie's, chosen before login) goes as it is.
  Never a user id, an email, a phone number, a name or an IP address;
- parameters are the allowed keys only (`PARAMS`), each with a value that passes its own check
  (a known currency, a number, a word of a closed vocabulary, a pseudonymous transaction id);
  anything else in the payload is ignored, whatever it holds.

Consent is asked when sending (`AnalyticsConsent.granted`), so a withdrawal takes effect for
every event not sent yet. `QueueTracking` (run for each outbox event by the worker) defers one
`track_event` job for an event worth tracking; `TrackEvent` (that job) checks consent again and
sends it. Both are idempotent in effect except a run repeated after its send: GA4 has no
idempotency key, so a `purchase` or `refund` carries its `transaction_id`, which GA4 dedupes.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import attrs

from core.consent.model import AnonymousId
from core.shared.events import Event
from core.shared.ids import EventId, UserId
from core.shared.money import Currency
from core.shared.personal import PersonalData
from core.shared.time import Clock
from core.shared.unit_of_work import MAINTENANCE, UnitOfWork, UnitOfWorkFactory
from core.shared.use_case import UseCase

# An anonymous visitor's id (a cookie's, recorded by the consent ledger before login).
TrackedSubject = UserId | AnonymousId  # whose consent decides: a person, or an anonymous visitor

CLIENT_ID_FIELD = "analytics.client_id"
TRANSACTION_ID_FIELD = "analytics.transaction_id"
# GA4 takes events up to 72 hours old (timestamp_micros); older ones are not sent at all.
MAX_EVENT_AGE = timedelta(hours=72)

# The Measurement Protocol's own limits (developers.google.com/analytics/devguides/collection/
# protocol/ga4): per request, per event, and on names.
MAX_EVENTS_PER_REQUEST = 25
MAX_PARAMS_PER_EVENT = 25
MAX_NAME_LENGTH = 40
MAX_PARAM_VALUE_LENGTH = 100
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")

ParamValue = str | int | float


# --- the events that leave ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AnalyticsEvent:
    """One GA4 event: a valid name and allow-listed parameters, never anything personal."""

    name: str = attrs.field()
    params: Mapping[str, ParamValue] = attrs.field(factory=dict)
    occurred_at: datetime

    @name.validator
    def _name(self, _: object, value: str) -> None:
        if not NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a GA4 event name")

    @params.validator
    def _params(self, _: object, value: Mapping[str, ParamValue]) -> None:
        unknown = set(value) - set(PARAMS)
        if unknown:  # the mapper is the only builder; this guards it
            raise ValueError(f"parameters {sorted(unknown)} are not allow-listed")
        if len(value) > MAX_PARAMS_PER_EVENT:
            raise ValueError("too many parameters for one GA4 event")


@attrs.frozen(kw_only=True)
class Tracked:
    """An outbox event as analytics sees it: whose consent decides, and what would be sent
    (the transaction id still a plain id, pseudonymised when sending)."""

    subject: TrackedSubject
    name: str
    params: Mapping[str, ParamValue]
    transaction: uuid.UUID | None = None
    occurred_at: datetime


class TrackOutcome(enum.StrEnum):
    SENT = "sent"
    NOT_TRACKED = "not_tracked"  # an event analytics does not follow
    NO_CONSENT = "no_consent"  # the person (or anonymous id) did not grant analytics
    TOO_OLD = "too_old"  # older than GA4 accepts
    UNKNOWN_EVENT = "unknown_event"
    OFF = "off"  # no GA4 property configured


# --- ports ------------------------------------------------------------------------------------


class Analytics(Protocol):
    """Sends events to the analytics service (GA4's Measurement Protocol). Raises for anything a
    retry may fix (timeouts, 5xx, 429): the job retries."""

    @property
    def enabled(self) -> bool:
        """False when no property is configured: nothing is ever sent, nothing is queued."""
        ...

    async def send(self, client_id: str, events: Sequence[AnalyticsEvent]) -> None:
        """At most MAX_EVENTS_PER_REQUEST events of one client in one request."""
        ...


class AnalyticsConsent(Protocol):
    """Whether `subject` has analytics consent right now (the consent ledger answers)."""

    async def granted(self, subject: TrackedSubject) -> bool: ...


class AnalyticsEventSource(Protocol):
    """Published events by id (the outbox)."""

    async def get(self, event_id: EventId) -> Event | None: ...


class AnalyticsJobs(Protocol):
    async def track(self, event_id: EventId) -> None:
        """Defer one `track_event` job for `event_id` (a second while one waits: nothing)."""
        ...


class AnalyticsUnitOfWork(UnitOfWork, Protocol):
    events: AnalyticsEventSource
    jobs: AnalyticsJobs


# --- the mapping: outbox event -> analytics event ----------------------------------------------

# Every parameter that may ever leave, and the check its value passes. Nothing else is sent.
CANCELLED_BY = frozenset({"customer", "provider"})
REFUND_REASONS = frozenset({"cancellation", "slot_lost", "review_rejected", "goodwill"})
PAYMENT_PARTS = frozenset({"full", "deposit", "balance"})
SIGN_UP_METHODS = frozenset({"email"})
PARAMS: Mapping[str, str] = {
    "currency": "ISO 4217 code of a known currency",
    "value": "an amount in the currency's major units",
    "quantity": "seats, 1..1000",
    "transaction_id": "keyed pseudonym of the booking id (GA4 dedupes purchases by it)",
    "method": f"one of {sorted(SIGN_UP_METHODS)}",
    "cancelled_by": f"one of {sorted(CANCELLED_BY)}",
    "reason": f"one of {sorted(REFUND_REASONS)}",
    "payment_part": f"one of {sorted(PAYMENT_PARTS)}",
}

SIGN_UP = "identity.email_verification_requested"  # sent once, at registration
BOOKING_CONFIRMED = "bookings.booking_confirmed"
BOOKING_CANCELLED = "bookings.booking_cancelled"
REFUND_SUCCEEDED = "payments.refund_succeeded"
TRACKED_EVENTS = frozenset({SIGN_UP, BOOKING_CONFIRMED, BOOKING_CANCELLED, REFUND_SUCCEEDED})


def _uuid(raw: object) -> uuid.UUID | None:
    if not isinstance(raw, str):
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _word(raw: object, allowed: frozenset[str]) -> str | None:
    return raw if isinstance(raw, str) and raw in allowed else None


def _count(raw: object) -> int | None:
    if isinstance(raw, bool) or not isinstance(raw, int):
        return None
    return raw if 1 <= raw <= 1000 else None


def _money(minor: object, code: object) -> dict[str, ParamValue]:
    """{"value", "currency"} from minor units and a currency code, or {} unless both are
    sound (an int amount, a known currency)."""
    if isinstance(minor, bool) or not isinstance(minor, int) or not isinstance(code, str):
        return {}
    if not 0 <= minor <= 10**12 or not re.fullmatch(r"[A-Z]{3}", code):
        return {}
    currency = Currency.of(code).value_or(None)
    if currency is None:
        return {}
    value = Decimal(minor).scaleb(-currency.exponent)
    return {"value": float(value), "currency": currency.code}


def tracked(event: Event) -> Tracked | None:
    """What analytics would send for `event`, or None (not followed, or its subject is not a
    sound id). Only allow-listed parameters with checked values come out."""
    payload: Mapping[str, Any] = event.payload
    params: dict[str, ParamValue] = {}
    transaction: uuid.UUID | None = None
    if event.name == SIGN_UP:
        person = _uuid(payload.get("user_id"))
        name = "sign_up"
        params["method"] = "email"
    elif event.name in (BOOKING_CONFIRMED, BOOKING_CANCELLED):
        person = _uuid(payload.get("customer_id"))
        transaction = _uuid(payload.get("booking_id"))
        if event.name == BOOKING_CONFIRMED:
            name = "purchase"
            params |= _money(payload.get("price_minor"), payload.get("currency"))
            if (seats := _count(payload.get("seats"))) is not None:
                params["quantity"] = seats
        else:
            name = "booking_cancelled"
            if (by := _word(payload.get("cancelled_by"), CANCELLED_BY)) is not None:
                params["cancelled_by"] = by
    elif event.name == REFUND_SUCCEEDED:
        person = _uuid(payload.get("customer_id"))
        transaction = _uuid(payload.get("booking_id"))
        name = "refund"
        params |= _money(payload.get("refund_minor"), payload.get("currency"))
        if (reason := _word(payload.get("reason"), REFUND_REASONS)) is not None:
            params["reason"] = reason
        if (part := _word(payload.get("part"), PAYMENT_PARTS)) is not None:
            params["payment_part"] = part
    else:
        return None
    if person is None:
        return None
    return Tracked(
        subject=UserId(person),
        name=name,
        params=params,
        transaction=transaction,
        occurred_at=event.occurred_at,
    )


async def client_id(subject: TrackedSubject, personal: PersonalData) -> str:
    """The GA4 client id of `subject`: a keyed pseudonym of a user id (only we can link it
    back, and only while we hold the lookup key); an anonymous id as it is."""
    if isinstance(subject, uuid.UUID):
        return await personal.lookup_hash(str(subject), field=CLIENT_ID_FIELD)
    return subject


async def analytics_event(tracked: Tracked, personal: PersonalData) -> AnalyticsEvent:
    params = dict(tracked.params)
    if tracked.transaction is not None:
        pseudonym = await personal.lookup_hash(str(tracked.transaction), field=TRANSACTION_ID_FIELD)
        params["transaction_id"] = pseudonym[:32]
    return AnalyticsEvent(name=tracked.name, params=params, occurred_at=tracked.occurred_at)


# --- use cases --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class QueueTracking(UseCase):
    """For one outbox event (the worker's dispatch_event): defer its `track_event` job if
    analytics is on, the event is one analytics follows and its person has consent now.
    True if a job was deferred."""

    uow: UnitOfWorkFactory[AnalyticsUnitOfWork]
    analytics: Analytics
    analytics_consent: AnalyticsConsent

    async def __call__(self, event_id: EventId) -> bool:
        if not self.analytics.enabled:
            return False
        async with self.uow(MAINTENANCE) as uow:
            event = await uow.events.get(event_id)
            found = tracked(event) if event is not None else None
            if found is None or not await self.analytics_consent.granted(found.subject):
                return False
            await uow.jobs.track(event_id)
            await uow.commit()
        return True


@attrs.frozen(kw_only=True)
class TrackEvent(UseCase):
    """The `track_event` job: consent is checked again now (a withdrawal since the event
    stops it), then the event goes to GA4. A failed send raises (the job retries)."""

    uow: UnitOfWorkFactory[AnalyticsUnitOfWork]
    analytics: Analytics
    analytics_consent: AnalyticsConsent
    personal_data: PersonalData
    clock: Clock

    async def __call__(self, event_id: EventId) -> TrackOutcome:
        if not self.analytics.enabled:
            return TrackOutcome.OFF
        async with self.uow(MAINTENANCE) as uow:
            event = await uow.events.get(event_id)
        if event is None:
            return TrackOutcome.UNKNOWN_EVENT
        found = tracked(event)
        if found is None:
            return TrackOutcome.NOT_TRACKED
        if self.clock.now() - found.occurred_at > MAX_EVENT_AGE:
            return TrackOutcome.TOO_OLD
        if not await self.analytics_consent.granted(found.subject):
            return TrackOutcome.NO_CONSENT
        client = await client_id(found.subject, self.personal_data)
        await self.analytics.send(client, [await analytics_event(found, self.personal_data)])
        return TrackOutcome.SENT


def measurement_body(
    client: str, events: Sequence[AnalyticsEvent], *, debug: bool = False
) -> dict[str, Any]:
    """The Measurement Protocol's JSON body for one client's events (at most 25), dated by
    the oldest (`timestamp_micros`, the request's time). Pure: adapters post it, tests read
    it. `debug` asks the validation server for the strictest checks."""
    if not 1 <= len(events) <= MAX_EVENTS_PER_REQUEST:
        raise ValueError(f"one request carries 1..{MAX_EVENTS_PER_REQUEST} events")
    oldest = min(event.occurred_at for event in events)
    body: dict[str, Any] = {
        "client_id": client,
        "timestamp_micros": int(oldest.timestamp()) * 1_000_000 + oldest.microsecond,
        "events": [{"name": event.name, "params": dict(event.params)} for event in events],
    }
    if debug:
        body["validation_behavior"] = "ENFORCE_RECOMMENDATIONS"
    return body
