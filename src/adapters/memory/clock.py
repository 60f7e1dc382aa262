from __future__ import annotations

from datetime import datetime, timedelta

from core.shared.time import Clock, to_utc


class FixedClock(Clock):
    """A clock tests move by hand."""

    def __init__(self, at: datetime) -> None:
        self._at = to_utc(at)

    def now(self) -> datetime:
        return self._at

    def advance(self, by: timedelta) -> None:
        self._at += by

    def set(self, at: datetime) -> None:
        self._at = to_utc(at)
