"""In-memory live changes: the publisher and the feed of one process, with a bounded history
(the Redis stream's semantics: ids in publish order, replay after an id, Resync past the
history's start)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Sequence

from core.bookings.live import (
    LiveChange,
    LiveEvent,
    LiveEventId,
    LiveFeed,
    LivePublisher,
    Resync,
    Subscription,
    Topic,
    concerns,
)


class MemoryLiveFeed(LiveFeed, LivePublisher):
    def __init__(self, history: int = 1_000) -> None:
        self._history: deque[LiveEvent] = deque(maxlen=history)
        self._queues: list[tuple[Topic, asyncio.Queue[LiveEvent]]] = []
        self._next = 1
        self._trimmed = LiveEventId(0, 0)  # the newest id no longer in the history

    async def publish(self, changes: Sequence[LiveChange]) -> None:
        for change in changes:
            event = LiveEvent(id=LiveEventId(self._next, 0), change=change)
            self._next += 1
            if len(self._history) == self._history.maxlen:
                self._trimmed = self._history[0].id
            self._history.append(event)
            for topic, queue in self._queues:
                if concerns(topic, change):
                    queue.put_nowait(event)

    async def follow(self, topic: Topic, after: LiveEventId | None) -> Subscription:
        entry: tuple[Topic, asyncio.Queue[LiveEvent]] = (topic, asyncio.Queue())
        self._queues.append(entry)
        return Subscription(self._events(entry, after), lambda: self._release(entry))

    def _release(self, entry: tuple[Topic, asyncio.Queue[LiveEvent]]) -> None:
        if entry in self._queues:
            self._queues.remove(entry)

    async def _events(
        self, entry: tuple[Topic, asyncio.Queue[LiveEvent]], after: LiveEventId | None
    ) -> AsyncGenerator[LiveEvent | Resync, None]:
        topic, queue = entry
        last = after  # what both the history and the queue hold is delivered once
        try:
            if after is not None:
                newest = LiveEventId(self._next - 1, 0)
                if after < self._trimmed or after > newest:
                    last = newest
                    yield Resync(id=newest)
                else:
                    for event in list(self._history):
                        if event.id > after and concerns(topic, event.change):
                            last = event.id
                            yield event
            while True:
                event = await queue.get()
                if last is None or event.id > last:
                    yield event
        finally:
            self._release(entry)
