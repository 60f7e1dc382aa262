"""In-memory fakes of the analytics ports: what was sent, whose consent is granted, the outbox
events and the `track_event` jobs deferred (kept only on commit, as in PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from adapters.memory.outbox import MemoryPublishedEvents
from adapters.memory.transaction import MemoryTransaction
from core.consent.analytics import (
    MAX_EVENTS_PER_REQUEST,
    Analytics,
    AnalyticsConsent,
    AnalyticsEvent,
    AnalyticsJobs,
    AnalyticsUnitOfWork,
    TrackedSubject,
)
from core.shared.events import Event
from core.shared.ids import EventId
from core.shared.unit_of_work import UnitOfWorkFactory


@attrs.frozen(kw_only=True)
class Sent:
    client_id: str
    events: tuple[AnalyticsEvent, ...]


class MemoryAnalytics(Analytics):
    """Records every send; `fail_next` makes the next sends raise (a GA4 outage)."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._enabled = enabled
        self.sent: list[Sent] = []
        self.failures = 0

    @property
    def enabled(self) -> bool:
        return self._enabled

    def fail_next(self, times: int = 1) -> None:
        self.failures += times

    async def send(self, client_id: str, events: Sequence[AnalyticsEvent]) -> None:
        if not 1 <= len(events) <= MAX_EVENTS_PER_REQUEST:
            raise ValueError("one request carries 1..25 events")
        if self.failures:
            self.failures -= 1
            raise ConnectionError("analytics is unavailable (memory fake)")
        self.sent.append(Sent(client_id=client_id, events=tuple(events)))


class MemoryAnalyticsConsent(AnalyticsConsent):
    """Consent as a set of subjects; `grant` and `withdraw` take effect at once."""

    def __init__(self, *granted: TrackedSubject) -> None:
        self._granted: set[TrackedSubject] = set(granted)

    def grant(self, subject: TrackedSubject) -> None:
        self._granted.add(subject)

    def withdraw(self, subject: TrackedSubject) -> None:
        self._granted.discard(subject)

    async def granted(self, subject: TrackedSubject) -> bool:
        return subject in self._granted


@attrs.define
class MemoryAnalyticsStore:
    events: dict[EventId, Event] = attrs.field(factory=dict)
    deferred: list[EventId] = attrs.field(factory=list)  # track_event jobs, committed

    def publish(self, *events: Event) -> None:
        for event in events:
            self.events[event.id] = event

    def uow_factory(self) -> UnitOfWorkFactory[MemoryAnalyticsUnitOfWork]:
        return lambda access: MemoryAnalyticsUnitOfWork(self)


class _Jobs(AnalyticsJobs):
    def __init__(self, uow: MemoryAnalyticsUnitOfWork) -> None:
        self._uow = uow

    async def track(self, event_id: EventId) -> None:
        waiting = self._uow.store.deferred + self._uow.pending
        if event_id not in waiting:  # the queueing lock of the PostGIS adapter
            self._uow.pending.append(event_id)


class MemoryAnalyticsUnitOfWork(MemoryTransaction, AnalyticsUnitOfWork):
    def __init__(self, store: MemoryAnalyticsStore) -> None:
        self.store = store
        self.pending: list[EventId] = []
        self.events = MemoryPublishedEvents(store.events)
        self.jobs = _Jobs(self)
        self.outbox = _NoOutbox()

    def _discard(self) -> None:
        self.pending = []

    async def commit(self) -> None:
        self.store.deferred.extend(self.pending)
        self.pending = []


class _NoOutbox:
    async def add(self, *events: Event) -> None:
        raise NotImplementedError("analytics publishes no events")
