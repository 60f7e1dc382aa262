"""Free slots from opening hours, exceptions, live bookings, buffers, lead time and horizon.

Pure functions; local rules are evaluated in the place's IANA zone, results are aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from returns.result import Result

from core.bookings.model import Occurrence, Offering, OpeningHours, Slot
from core.shared.errors import InvalidInput
from core.shared.ids import OccurrenceId, ResourceId
from core.shared.time import TimeRange


def appointment_slots(
    offering: Offering,
    zone: ZoneInfo,
    hours: OpeningHours,
    busy: Mapping[ResourceId, Sequence[TimeRange]],
    window: TimeRange,
    now: datetime,
) -> list[Slot]:
    raise NotImplementedError


def session_slots(
    offering: Offering,
    occurrences: Sequence[Occurrence],
    taken: Mapping[OccurrenceId, int],
    window: TimeRange,
    now: datetime,
) -> list[Slot]:
    raise NotImplementedError


def weekly_starts(
    first_start: datetime, zone: ZoneInfo, repeat_until: date | None, limit: int
) -> Result[list[datetime], InvalidInput]:
    raise NotImplementedError
