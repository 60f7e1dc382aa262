"""When a booking's reminders are due: pure arithmetic on aware UTC instants.

A reminder `offset` before a start is the instant `start - offset` in UTC: real elapsed time,
never a wall-clock hour of the place's zone, so a DST change between the two moves the local
hour the reminder shows at, never how long before the start it comes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from core.messaging.model import ReminderPlan
from core.shared.time import to_utc

DEFAULT_PLAN = ReminderPlan()


def offset_minutes(offset: timedelta) -> int:
    """An offset in whole minutes (what a reminder job carries); sub-minute parts drop."""
    return int(offset.total_seconds() // 60)


def reminder_instants(
    starts: datetime, plan: ReminderPlan, now: datetime
) -> Sequence[tuple[int, datetime]]:
    """(offset in minutes, UTC instant) of each reminder still ahead of `now`, earliest
    first. Offsets that are not positive, repeated, or whose instant has passed are skipped."""
    start, now = to_utc(starts), to_utc(now)
    minutes = sorted({offset_minutes(o) for o in plan.offsets if offset_minutes(o) > 0})
    due = [(m, start - timedelta(minutes=m)) for m in reversed(minutes)]
    return [(m, at) for m, at in due if at >= now]


def reminder_is_due(status: str, starts: datetime, now: datetime) -> bool:
    """A reminder goes out only for a confirmed booking that has not started."""
    return status == "confirmed" and to_utc(now) < to_utc(starts)
