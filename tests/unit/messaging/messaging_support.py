"""Shared helpers of the messaging unit tests: a world in memory, events as the other
contexts write them, and reading an .ics back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from adapters.memory.messaging import InMemoryMessaging, messaging_in_memory
from core.messaging import BookingFacts, Dispatched, DispatchEvent, Message
from core.shared.events import Event
from core.shared.ids import BookingId, EventId
from result_support import failure as failure
from result_support import hypothesis_profile
from result_support import ok as ok

PROFILE = hypothesis_profile("messaging", fast=60)

NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
T = TypeVar("T")


def world(now: datetime = NOW) -> InMemoryMessaging:
    return messaging_in_memory(now)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from a synchronous Hypothesis test."""
    return asyncio.run(coroutine)


def booking_event(name: str, facts: BookingFacts, at: datetime = NOW, **extra: Any) -> Event:
    """A bookings event with the payload `Booking._event` writes."""
    payload: dict[str, Any] = {
        "booking_id": str(facts.booking_id),
        "offering_id": str(uuid.uuid4()),
        "provider_id": str(facts.provider_id),
        "customer_id": str(facts.customer_id),
        "start": facts.starts.isoformat(),
        "end": facts.ends.isoformat(),
        "seats": facts.seats,
        "status": facts.status,
        "rescheduled_from": str(facts.rescheduled_from) if facts.rescheduled_from else None,
        **extra,
    }
    return Event(name=f"bookings.{name}", occurred_at=at, payload=payload)


def refund_event(facts: BookingFacts, minor: int, at: datetime = NOW) -> Event:
    """`payments.refund_succeeded` as `Refund.event` writes it."""
    return Event(
        name="payments.refund_succeeded",
        occurred_at=at,
        payload={
            "payment_id": str(uuid.uuid4()),
            "booking_id": str(facts.booking_id),
            "customer_id": str(facts.customer_id),
            "provider_id": str(facts.provider_id),
            "part": "full",
            "amount_minor": facts.price_minor,
            "currency": facts.currency,
            "status": "succeeded",
            "refund_id": str(uuid.uuid4()),
            "refund_minor": minor,
            "reason": "cancellation",
            "refund_status": "succeeded",
        },
    )


async def dispatch(app: InMemoryMessaging, event: Event) -> Dispatched:
    app.publish(event)
    return ok(await app(DispatchEvent)(EventId(event.id)))


def ics_fields(data: bytes) -> dict[str, list[str]]:
    """Every property of an .ics by name (unfolded lines; values as written)."""
    text = data.decode().replace("\r\n ", "").replace("\r\n\t", "")
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.split(";")[0], []).append(value)
    return fields


def of_booking(app: InMemoryMessaging, booking_id: BookingId) -> list[Message]:
    return [m for m in app.store.messages if m.booking_id == booking_id]
