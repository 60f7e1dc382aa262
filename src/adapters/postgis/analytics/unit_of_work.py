"""The analytics unit of work (ADR 29): it reads outbox events and defers `track_event` jobs in
its own transaction. It writes nothing else: analytics keeps no table of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.jobs.deferring import AlreadyQueued, defer
from adapters.postgis.jobs.tasks import TRACK_EVENT, queue_of
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork, outbox_event
from core.consent.analytics import AnalyticsEventSource, AnalyticsJobs, AnalyticsUnitOfWork
from core.shared.events import Event
from core.shared.ids import EventId
from core.shared.unit_of_work import Access


def tracking_lock(event_id: EventId) -> str:
    """One waiting `track_event` job per event (procrastinate's queueing lock)."""
    return f"analytics:{event_id}"


class PostgisAnalyticsEvents(PostgisPart, AnalyticsEventSource):
    async def get(self, event_id: EventId) -> Event | None:
        return await outbox_event(self._conn, event_id)


class PostgisAnalyticsJobs(PostgisPart, AnalyticsJobs):
    async def track(self, event_id: EventId) -> None:
        try:
            await defer(
                self._conn,
                TRACK_EVENT,
                {"event_id": str(event_id)},
                queue=queue_of(TRACK_EVENT),
                queueing_lock=tracking_lock(event_id),
            )
        except AlreadyQueued:  # a dispatch run twice: the waiting job is enough
            return


class PostgisAnalyticsUnitOfWork(PostgisUnitOfWork, AnalyticsUnitOfWork):
    def __init__(self, engine: AsyncEngine, access: Access) -> None:
        super().__init__(engine, access)
        self.events = PostgisAnalyticsEvents(self)
        self.jobs = PostgisAnalyticsJobs(self)

    @classmethod
    def factory(cls, engine: AsyncEngine) -> Callable[[Access], Self]:
        return lambda access: cls(engine, access)
