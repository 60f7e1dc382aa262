"""Holds and reschedules in one round trip each: the core's booking, written by one call of a
function of migration 0020 (`hold_booking`, `reschedule_booking`) between BEGIN and COMMIT,
sent as one pipeline (adapters/postgis/one_trip.py).

The booking and its events travel as JSON; the function answers with an outcome. It refuses
with `catalog_changed` when the place's catalog version is no longer the one the booking was
decided with (docs/adr/0030-holds-in-one-round-trip.md).
"""

# ruff: noqa: S608  (the statements are built from this file's constants only)
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import attrs
import psycopg
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from returns.result import Failure, Result, Success
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.bookings.bookings import booking_of
from adapters.postgis.one_trip import Statement, one_trip
from core.bookings.model import Booking, BookingStatus, SessionFull, SlotUnavailable
from core.bookings.ports import (
    BookingHolds,
    BookingMoved,
    CatalogChanged,
    HoldRefused,
    RescheduleRefused,
)
from core.shared.events import Event
from core.shared.ids import BookingId, ResourceId
from core.shared.time import TimeRange
from core.shared.unit_of_work import Access

OUTCOME = "outcome, held_resource, seats_left"
HOLD = (
    f"SELECT {OUTCOME} FROM hold_booking(%(booking)s::jsonb, %(candidates)s::uuid[],"
    " %(version)s::bigint, %(now)s::timestamptz, %(events)s::jsonb)"
)
RESCHEDULE = (
    f"SELECT {OUTCOME} FROM reschedule_booking(%(old_id)s::uuid, %(old_status)s::text,"
    " %(booking)s::jsonb, %(candidates)s::uuid[], %(version)s::bigint, %(now)s::timestamptz,"
    " %(events)s::jsonb)"
)
BOOKING = "SELECT * FROM bookings WHERE id = %(id)s::uuid"


def _range(value: TimeRange) -> str:
    return f"[{value.start.isoformat()},{value.end.isoformat()})"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def booking_json(booking: Booking) -> Jsonb:
    """The booking as `jsonb_populate_record(NULL::bookings, ...)` reads it: column names."""
    return Jsonb(
        {
            "id": str(booking.id),
            "offering_id": str(booking.offering_id),
            "provider_id": str(booking.provider_id),
            "customer_id": str(booking.customer_id),
            "kind": booking.kind.value,
            "during": _range(booking.during),
            "blocked": _range(booking.blocked),
            "resource_id": _text(booking.resource_id),
            "occurrence_id": _text(booking.occurrence_id),
            "seats": booking.seats,
            "price_minor": booking.price.minor,
            "currency": booking.price.currency.code,
            "status": booking.status.value,
            "hold_expires_at": _text(
                booking.hold_expires_at and booking.hold_expires_at.isoformat()
            ),
            "created_at": booking.created_at.isoformat(),
            "rescheduled_from": _text(booking.rescheduled_from),
            "cancelled_at": _text(booking.cancelled_at and booking.cancelled_at.isoformat()),
            "cancelled_by": _text(booking.cancelled_by and booking.cancelled_by.value),
        }
    )


def events_json(events: Sequence[Event]) -> Jsonb:
    """Outbox rows as `jsonb_to_recordset` reads them; the payloads as the core built them."""
    return Jsonb(
        [
            {
                "id": str(event.id),
                "name": event.name,
                "occurred_at": event.occurred_at.isoformat(),
                "payload": event.payload,
            }
            for event in events
        ]
    )


def _held(row: DictRow, booking: Booking) -> Result[Booking, HoldRefused]:
    match row["outcome"]:
        case "held":
            resource = row["held_resource"]
            held = booking if resource is None else attrs.evolve(booking, resource_id=resource)
            return Success(held)
        case "slot_unavailable":
            return Failure(SlotUnavailable())
        case "session_full":
            return Failure(SessionFull(seats_left=row["seats_left"]))
        case "catalog_changed":
            return Failure(CatalogChanged())
    raise ValueError(f"unexpected outcome of a hold: {row['outcome']!r}")


async def trip(
    engine: AsyncEngine,
    access: Access,
    statements: Sequence[Statement],
    *,
    end: Literal["commit", "rollback"],
) -> list[list[DictRow]]:
    """`one_trip`, with the driver's errors raised as SQLAlchemy raises them elsewhere (a lock
    timeout is an `OperationalError`, answered 503 like any other unit of work's)."""
    try:
        return await one_trip(engine, access, statements, end=end)
    except psycopg.Error as error:
        sql = "; ".join(statement for statement, _ in statements)
        raise DBAPIError.instance(sql, None, error, psycopg.Error) from error


class PostgisBookingHolds(BookingHolds):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def hold(
        self,
        access: Access,
        booking: Booking,
        candidates: Sequence[ResourceId],
        version: int,
        now: datetime,
        events: Sequence[Event],
    ) -> Result[Booking, HoldRefused]:
        values = {
            "booking": booking_json(booking),
            "candidates": list(candidates),
            "version": version,
            "now": now,
            "events": events_json(events),
        }
        rows = await trip(self._engine, access, [(HOLD, values)], end="commit")
        return _held(rows[0][0], booking)

    async def reschedule(
        self,
        access: Access,
        old_id: BookingId,
        expected_status: BookingStatus,
        new_booking: Booking,
        candidates: Sequence[ResourceId],
        version: int,
        now: datetime,
        events: Sequence[Event],
    ) -> Result[Booking, RescheduleRefused]:
        values = {
            "old_id": old_id,
            "old_status": expected_status.value,
            "booking": booking_json(new_booking),
            "candidates": list(candidates),
            "version": version,
            "now": now,
            "events": events_json(events),
        }
        rows = await trip(self._engine, access, [(RESCHEDULE, values)], end="commit")
        outcome = rows[0][0]
        if outcome["outcome"] == "moved":
            return Failure(BookingMoved())
        return _held(outcome, new_booking)

    async def booking(self, access: Access, id: BookingId) -> Booking | None:
        rows = await trip(self._engine, access, [(BOOKING, {"id": id})], end="rollback")
        found = rows[0]
        return booking_of(found[0]) if found else None
