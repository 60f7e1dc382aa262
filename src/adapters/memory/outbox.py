"""The one in-memory outbox: events wait in the unit of work until it commits; and what its
readers see once they did."""

from __future__ import annotations

from collections.abc import Mapping

from core.shared.events import Event
from core.shared.ids import EventId
from core.shared.unit_of_work import Outbox


class MemoryOutbox(Outbox):
    """Holds the events added in one transaction; its unit of work `take()`s them on commit
    and calls `drop()` on leaving, so a rolled-back transaction sends nothing."""

    def __init__(self) -> None:
        self._pending: list[Event] = []

    async def add(self, *events: Event) -> None:
        self._pending.extend(events)

    def take(self) -> list[Event]:
        taken, self._pending = self._pending, []
        return taken

    def drop(self) -> None:
        self._pending = []


class MemoryPublishedEvents:
    """The event source of a context that reads the outbox (analytics, integrations): the
    events published so far, by id."""

    def __init__(self, events: Mapping[EventId, Event]) -> None:
        self._events = events

    async def get(self, event_id: EventId) -> Event | None:
        return self._events.get(event_id)
