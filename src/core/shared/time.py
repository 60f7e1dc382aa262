"""Aware-UTC instants, half-open ranges and the Clock port."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

import attrs


def to_utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC; naive datetimes are a programming error."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: instants must be aware (UTC)")
    return value.astimezone(UTC)


@attrs.frozen(order=True)
class TimeRange:
    """[start, end) in UTC; empty ranges are refused."""

    # Converting (not just checking) keeps arithmetic in real time, never in a DST wall clock.
    start: datetime = attrs.field(converter=to_utc)
    end: datetime = attrs.field(converter=to_utc)

    def __attrs_post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty range {self.start} .. {self.end}")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, other: TimeRange) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: TimeRange) -> bool:
        return self.start <= other.start and other.end <= self.end

    def widen(self, before: timedelta, after: timedelta) -> TimeRange:
        return TimeRange(self.start - before, self.end + after)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware UTC."""
        ...
