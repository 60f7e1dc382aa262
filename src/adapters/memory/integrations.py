"""In-memory store of the integrations context: endpoints, deliveries, the events they come
from and the jobs they defer, with the PostGIS adapter's transaction semantics where the use
cases rely on them (the contract suite runs both).

Each unit of work reads the committed rows plus its own writes; `commit()` publishes its writes
and its deferred jobs together, leaving without it drops both. Uniqueness of (endpoint, event)
and the conditional `record` are checked against the committed rows and the transaction's own,
with no await between check and write, so they are atomic under asyncio.

What PostgreSQL does with locks, this store does with asyncio locks held until the unit of work
commits or ends: `endpoints.add` locks the provider (so the limit of active endpoints is counted
and kept atomically), `get(..., for_update=True)` locks the endpoint or delivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from datetime import datetime

import attrs

from adapters.memory.outbox import MemoryPublishedEvents
from adapters.memory.transaction import MemoryTransaction
from core.integrations.model import (
    ENDPOINTS_PER_PROVIDER,
    Delivery,
    DeliveryId,
    DeliveryStatus,
    Endpoint,
    EndpointId,
    EventType,
)
from core.integrations.ports import (
    Deliveries,
    Endpoints,
    EventSource,
    IntegrationsUnitOfWork,
    WebhookJobs,
)
from core.shared.events import Event
from core.shared.ids import EventId, ProviderId
from core.shared.unit_of_work import Access, UnitOfWorkFactory


@attrs.frozen(kw_only=True)
class DeferredDelivery:
    """A `deliver_webhook` job as the memory store keeps it."""

    delivery_id: DeliveryId
    attempt: int
    at: datetime | None


@attrs.define
class _Rows:
    endpoints: dict[EndpointId, Endpoint] = attrs.field(factory=dict)
    deliveries: dict[DeliveryId, Delivery] = attrs.field(factory=dict)
    order: list[DeliveryId] = attrs.field(factory=list)  # insertion order: oldest first


class MemoryIntegrationsStore(UnitOfWorkFactory[IntegrationsUnitOfWork]):
    """Committed rows, the events the dispatcher reads, and every job deferred so far."""

    def __init__(self) -> None:
        self.rows = _Rows()
        self.events: dict[EventId, Event] = {}
        self.jobs: list[DeferredDelivery] = []
        self.locks: dict[Hashable, asyncio.Lock] = {}

    def publish(self, *events: Event) -> None:
        """Events as the outbox would hold them after their transaction committed."""
        for event in events:
            self.events[event.id] = event

    def take_jobs(self) -> list[DeferredDelivery]:
        taken, self.jobs = self.jobs, []
        return taken

    def __call__(self, access: Access) -> MemoryIntegrationsUnitOfWork:
        return MemoryIntegrationsUnitOfWork(self)


class _Outbox:
    async def add(self, *events: Event) -> None:
        raise NotImplementedError("the integrations context publishes no events")


class MemoryIntegrationsUnitOfWork(MemoryTransaction, IntegrationsUnitOfWork):
    def __init__(self, store: MemoryIntegrationsStore) -> None:
        self._store = store
        self.endpoint_writes: dict[EndpointId, Endpoint] = {}
        self.delivery_writes: dict[DeliveryId, Delivery] = {}
        self.new_order: list[DeliveryId] = []
        self.deferred: list[DeferredDelivery] = []
        self.outbox = _Outbox()
        self.endpoints: Endpoints = MemoryEndpoints(self)
        self.deliveries: Deliveries = MemoryDeliveries(self)
        self.events: EventSource = MemoryPublishedEvents(store.events)
        self.jobs: WebhookJobs = MemoryWebhookJobs(self)
        self._held: dict[Hashable, asyncio.Lock] = {}

    @property
    def committed(self) -> _Rows:
        return self._store.rows

    def _discard(self) -> None:
        self._drop()
        self._release()

    async def commit(self) -> None:
        rows = self._store.rows
        rows.endpoints.update(self.endpoint_writes)
        rows.deliveries.update(self.delivery_writes)
        rows.order.extend(self.new_order)
        self._store.jobs.extend(self.deferred)
        self._drop()
        self._release()

    async def lock(self, key: Hashable) -> None:
        """Hold `key` until this unit of work commits or ends (pg_advisory_xact_lock)."""
        if key in self._held:
            return
        lock = self._store.locks.setdefault(key, asyncio.Lock())
        await lock.acquire()
        self._held[key] = lock

    def _release(self) -> None:
        held, self._held = self._held, {}
        for lock in held.values():
            lock.release()

    def _drop(self) -> None:
        self.endpoint_writes, self.delivery_writes = {}, {}
        self.new_order, self.deferred = [], []


class MemoryEndpoints(Endpoints):
    def __init__(self, uow: MemoryIntegrationsUnitOfWork) -> None:
        self._uow = uow

    def _all(self) -> list[Endpoint]:
        merged = {**self._uow.committed.endpoints, **self._uow.endpoint_writes}
        return sorted(merged.values(), key=lambda e: (e.created_at, str(e.id)))

    async def add(self, endpoint: Endpoint, *, limit: int = ENDPOINTS_PER_PROVIDER) -> bool:
        await self._uow.lock(("provider", endpoint.provider_id))
        if await self.get(endpoint.id) is not None:
            raise KeyError(f"endpoint {endpoint.id} exists")
        active = [e for e in await self.of_provider(endpoint.provider_id) if e.active]
        if len(active) >= limit:
            return False
        self._uow.endpoint_writes[endpoint.id] = endpoint
        return True

    async def get(self, endpoint_id: EndpointId, *, for_update: bool = False) -> Endpoint | None:
        if for_update:
            await self._uow.lock(("endpoint", endpoint_id))
        return self._uow.endpoint_writes.get(endpoint_id) or self._uow.committed.endpoints.get(
            endpoint_id
        )

    async def update(self, endpoint: Endpoint) -> None:
        if await self.get(endpoint.id) is None:
            raise KeyError(f"no endpoint {endpoint.id}")
        self._uow.endpoint_writes[endpoint.id] = endpoint

    async def of_provider(self, provider_id: ProviderId) -> Sequence[Endpoint]:
        return [e for e in self._all() if e.provider_id == provider_id]

    async def wanting(self, provider_id: ProviderId, event_type: EventType) -> Sequence[Endpoint]:
        return [e for e in await self.of_provider(provider_id) if e.wants(event_type)]


class MemoryDeliveries(Deliveries):
    def __init__(self, uow: MemoryIntegrationsUnitOfWork) -> None:
        self._uow = uow

    async def add(self, delivery: Delivery) -> bool:
        rows = [*self._uow.committed.deliveries.values(), *self._uow.delivery_writes.values()]
        if any(
            (d.endpoint_id, d.event_id) == (delivery.endpoint_id, delivery.event_id) for d in rows
        ):
            return False
        self._uow.delivery_writes[delivery.id] = delivery
        self._uow.new_order.append(delivery.id)
        return True

    async def get(self, delivery_id: DeliveryId, *, for_update: bool = False) -> Delivery | None:
        if for_update:
            await self._uow.lock(("delivery", delivery_id))
        return self._uow.delivery_writes.get(delivery_id) or self._uow.committed.deliveries.get(
            delivery_id
        )

    async def record(self, delivery: Delivery, *, attempts_before: int) -> bool:
        stored = await self.get(delivery.id)
        if stored is None or stored.attempts != attempts_before:
            return False
        self._uow.delivery_writes[delivery.id] = delivery
        return True

    async def of_endpoint(
        self, endpoint_id: EndpointId, *, before: DeliveryId | None = None, limit: int = 50
    ) -> Sequence[Delivery]:
        order = [*self._uow.committed.order, *self._uow.new_order]
        newest_first = [
            found
            for delivery_id in reversed(order)
            if (found := await self.get(delivery_id)) is not None
            and found.endpoint_id == endpoint_id
        ]
        if before is not None:
            ids = [d.id for d in newest_first]
            newest_first = newest_first[ids.index(before) + 1 :] if before in ids else []
        return newest_first[:limit]

    async def dead(
        self, *, before: DeliveryId | None = None, limit: int = 50
    ) -> Sequence[Delivery]:
        merged = {**self._uow.committed.deliveries, **self._uow.delivery_writes}
        dead = [d for d in merged.values() if d.status is DeliveryStatus.DEAD]
        dead.sort(key=lambda d: (d.created_at, str(d.id)), reverse=True)
        if before is not None:
            cursor = merged.get(before)
            if cursor is None:
                return []
            key = (cursor.created_at, str(cursor.id))
            dead = [d for d in dead if (d.created_at, str(d.id)) < key]
        return dead[:limit]


class MemoryWebhookJobs(WebhookJobs):
    def __init__(self, uow: MemoryIntegrationsUnitOfWork) -> None:
        self._uow = uow

    async def deliver(self, delivery_id: DeliveryId, attempt: int, at: datetime | None) -> None:
        self._uow.deferred.append(DeferredDelivery(delivery_id=delivery_id, attempt=attempt, at=at))
