"""Booking facts and message contents for the rendering tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import attrs

from core.messaging.model import MessageKind
from core.messaging.ports import BookingFacts, Content
from core.shared.ids import BookingId, ProviderId, UserId

# A name a provider could try to smuggle in: markup, and a right-to-left override that would
# display "exe.pdf" as "fdp.exe".
HOSTILE = 'Yoga <script>alert("x")</script> & <b>bold</b> \u202eexe.pdf'
HOSTILE_SHOWN = 'Yoga <script>alert("x")</script> & <b>bold</b> exe.pdf'  # what plain text shows

BOOKING_ID = BookingId(uuid.UUID("6f1c1c0e-2b1e-4c36-9d7e-0c4a4c1d2b11"))
LINK = "https://app.reserva.test/verify-email?token=s3cr3t-T0ken_value"
BOOKING_LINK = f"https://app.reserva.test/bookings/{BOOKING_ID}"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def facts(**changes: object) -> BookingFacts:
    base = BookingFacts(
        booking_id=BOOKING_ID,
        provider_id=ProviderId(uuid.uuid4()),
        customer_id=UserId(uuid.uuid4()),
        status="confirmed",
        starts=utc(2026, 3, 27, 13, 0),  # 14:00 in Berlin (CET)
        ends=utc(2026, 3, 27, 14, 30),
        time_zone="Europe/Berlin",
        offering_name="Morning yoga",
        provider_name="Studio Mitte",
        place_name="Main hall",
        place_address="Torstraße 1, 10119 Berlin",
        seats=2,
        price_minor=4500,
        currency="EUR",
        rescheduled_from=None,
    )
    return attrs.evolve(base, **changes)  # type: ignore[arg-type]


BOOKING_KINDS = (
    MessageKind.BOOKING_HELD,
    MessageKind.BOOKING_CONFIRMED,
    MessageKind.BOOKING_CANCELLED,
    MessageKind.BOOKING_RESCHEDULED,
    MessageKind.REMINDER,
)


def content(kind: MessageKind, locale: str = "en", **changes: object) -> Content:
    """A complete content for `kind`: what the SendMessage use case would build."""
    fields: dict[str, object] = {"kind": kind, "locale": locale, "recipient_name": "Anna"}
    if kind in (MessageKind.EMAIL_VERIFICATION, MessageKind.PASSWORD_RESET):
        fields["link"] = LINK
    if kind in BOOKING_KINDS or kind is MessageKind.REFUND_ISSUED:
        fields["booking"] = facts()
        fields["link"] = BOOKING_LINK
    if kind is MessageKind.REFUND_ISSUED:
        fields |= {"refund_minor": 2250, "currency": "EUR"}
    if kind is MessageKind.REMINDER:
        fields["reminder_before_minutes"] = 120
    fields |= changes
    return Content(**fields)  # type: ignore[arg-type]
