"""A booking's transitions in one round trip to read and one to write (issue 11), and the
periodic sweep of lapsed holds.

The read is BEGIN + the caller's row-level-security settings + one SELECT + ROLLBACK, the
write BEGIN + settings + one statement + COMMIT, each sent as one pipeline (`one_trip`). The
write is a conditional UPDATE whose RETURNING feeds the outbox INSERT in the same statement: the
events (built by the core, passed as JSON) are written exactly when the booking moved, and the
statement answers whether it did. Nothing is held between read and write: the UPDATE's
condition (status still `expected`, a hold still unexpired) decides a race, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.bookings.bookings import booking_of
from adapters.postgis.one_trip import one_trip
from core.bookings.model import Booking, BookingStatus
from core.bookings.ports import BookingMoves, LapsedHolds
from core.shared.events import Event
from core.shared.ids import BookingId
from core.shared.unit_of_work import Access

_GET = "SELECT * FROM bookings WHERE id = %(id)s"

_MOVE = """
WITH moved AS (
    UPDATE bookings
    SET status = %(status)s, hold_expires_at = %(hold_expires_at)s,
        cancelled_at = %(cancelled_at)s, cancelled_by = %(cancelled_by)s
    WHERE id = %(id)s AND status = %(expected)s {still_held}
    RETURNING id
), sent AS (
    INSERT INTO outbox (id, name, occurred_at, payload)
    SELECT e.id, e.name, e.occurred_at, e.payload
    FROM moved, jsonb_to_recordset(%(events)s)
        AS e(id uuid, name text, occurred_at timestamptz, payload jsonb)
)
SELECT count(*) AS moved FROM moved
"""
_MOVE_FROM = {
    # A hold moves only while it is live: one past its expiry is expired, swept or not.
    True: _MOVE.format(still_held="AND hold_expires_at > %(now)s"),
    False: _MOVE.format(still_held=""),
}

# Migration 0021: SECURITY DEFINER, since the app role sees only its caller's rows.
_EXPIRE = sa.text("SELECT expire_lapsed_holds(:now, :batch)")


def _event(event: Event) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "name": event.name,
        "occurred_at": event.occurred_at.isoformat(),
        "payload": event.payload,
    }


class PostgisBookingMoves(BookingMoves):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, access: Access, id: BookingId) -> Booking | None:
        [rows] = await one_trip(self._engine, access, [(_GET, {"id": id})], end="rollback")
        return booking_of(rows[0]) if rows else None

    async def move(
        self,
        access: Access,
        after: Booking,
        expected: BookingStatus,
        now: datetime,
        events: Sequence[Event],
    ) -> bool:
        values = {
            "id": after.id,
            "status": after.status.value,
            "hold_expires_at": after.hold_expires_at,
            "cancelled_at": after.cancelled_at,
            "cancelled_by": None if after.cancelled_by is None else after.cancelled_by.value,
            "expected": expected.value,
            "now": now,
            "events": Jsonb([_event(event) for event in events]),
        }
        statement = _MOVE_FROM[expected is BookingStatus.HELD]
        [rows] = await one_trip(self._engine, access, [(statement, values)], end="commit")
        return bool(rows[0]["moved"])


class PostgisLapsedHolds(LapsedHolds):
    """Each batch is one short transaction of its own."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def expire(self, now: datetime, batch: int) -> int:
        async with self._engine.begin() as connection:
            marked = await connection.execute(_EXPIRE, {"now": now, "batch": batch})
            return int(marked.scalar_one())
