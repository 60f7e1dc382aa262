"""`PostgisJobs`: messaging's `Jobs` port, deferring in the unit of work's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from adapters.postgis.jobs.deferring import defer, delete_waiting
from adapters.postgis.jobs.tasks import SEND_MESSAGE, SEND_REMINDER, queue_of
from adapters.postgis.unit_of_work import PostgisPart
from core.messaging.model import MessageId
from core.messaging.ports import Jobs
from core.shared.ids import BookingId

# The booking's waiting reminders, through the partial index of migration 0009.
_WAITING_REMINDERS = (
    "FROM procrastinate_jobs WHERE task_name = 'send_reminder' AND status = 'todo'"
    " AND (args->>'booking_id') = :booking"
)
_CANCEL = sa.text(f"DELETE {_WAITING_REMINDERS}")
_PENDING = sa.text(
    f"SELECT (args->>'offset_minutes')::int AS offset_minutes, scheduled_at {_WAITING_REMINDERS}"
    " ORDER BY scheduled_at, offset_minutes"
)


def reminder_lock(booking_id: BookingId, offset_minutes: int) -> str:
    """One waiting reminder per booking and offset (procrastinate's queueing lock)."""
    return f"reminder:{booking_id}:{offset_minutes}"


class PostgisJobs(PostgisPart, Jobs):
    async def send_message(self, message_id: MessageId) -> None:
        await defer(
            self._conn, SEND_MESSAGE, {"message_id": str(message_id)}, queue=queue_of(SEND_MESSAGE)
        )

    async def schedule_reminder(
        self, booking_id: BookingId, offset_minutes: int, at: datetime
    ) -> None:
        lock = reminder_lock(booking_id, offset_minutes)
        await delete_waiting(self._conn, lock)  # scheduling again replaces it
        await defer(
            self._conn,
            SEND_REMINDER,
            {"booking_id": str(booking_id), "offset_minutes": offset_minutes},
            queue=queue_of(SEND_REMINDER),
            schedule_at=at,
            queueing_lock=lock,
        )

    async def cancel_reminders(self, booking_id: BookingId) -> int:
        removed = await self._conn.execute(_CANCEL, {"booking": str(booking_id)})
        return removed.rowcount

    async def pending_reminders(self, booking_id: BookingId) -> Sequence[tuple[int, datetime]]:
        rows = await self._conn.execute(_PENDING, {"booking": str(booking_id)})
        return [(offset, at.astimezone(UTC)) for offset, at in rows]
