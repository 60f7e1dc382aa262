"""Bookings as calendar entries (RFC 5545 VEVENTs, written by a `CalendarWriter`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from core.messaging.model import CalendarEntry, MessageKind
from core.messaging.ports import BookingFacts
from core.shared.time import to_utc

# Statuses a feed shows: what happens or happened. Holds may lapse, cancelled and rescheduled
# bookings are gone (a rescheduled one's successor carries its UID).
FEED_STATUSES = frozenset({"confirmed", "completed", "no_show"})

# Messages that carry the booking as an .ics: a hold is not an appointment yet.
WITH_CALENDAR = frozenset(
    {
        MessageKind.BOOKING_CONFIRMED,
        MessageKind.BOOKING_RESCHEDULED,
        MessageKind.BOOKING_CANCELLED,
        MessageKind.REMINDER,
    }
)


def entry_of(
    facts: BookingFacts,
    uid: str,
    sequence: int,
    stamp: datetime,
    *,
    cancelled: bool = False,
    link: str | None = None,
) -> CalendarEntry:
    """The booking as one VEVENT; `uid` and `sequence` come from `CalendarSequences`."""
    return CalendarEntry(
        uid=uid,
        sequence=sequence,
        summary=f"{facts.offering_name} ({facts.provider_name})",
        starts=to_utc(facts.starts),
        ends=to_utc(facts.ends),
        time_zone=facts.time_zone,
        location=", ".join(p for p in (facts.place_name, facts.place_address) if p),
        description=link or "",
        cancelled=cancelled,
        stamp=to_utc(stamp),
    )


def feed_bookings(bookings: Sequence[BookingFacts]) -> list[BookingFacts]:
    """The bookings a feed lists, by start."""
    return sorted((b for b in bookings if b.status in FEED_STATUSES), key=lambda b: b.starts)


def token_digest(token: str) -> str:
    """What is stored of a secret feed token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def ics_filename(kind: MessageKind) -> str:
    return "cancel.ics" if kind is MessageKind.BOOKING_CANCELLED else "booking.ics"
