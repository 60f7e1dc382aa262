"""The ports the integrations context needs. Adapters subclass them explicitly.

Stores: `IntegrationsUnitOfWork` (one transaction; its `jobs` defer in that same transaction,
so a delivery's job exists exactly when the delivery does). Outbound: `WebhookPoster`.
The outbox is read through the narrow `EventSource`, so this context imports no other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from core.integrations.model import (
    ENDPOINTS_PER_PROVIDER,
    Delivery,
    DeliveryId,
    Endpoint,
    EndpointId,
    EventType,
    PostOutcome,
)
from core.shared.events import Event
from core.shared.ids import EventId, ProviderId
from core.shared.unit_of_work import UnitOfWork


class Endpoints(Protocol):
    async def add(self, endpoint: Endpoint, *, limit: int = ENDPOINTS_PER_PROVIDER) -> bool:
        """Insert unless the provider already has `limit` active endpoints; True if inserted.
        Atomic: the count and the insert hold a lock on the provider until the transaction
        ends, so concurrent registrations never go past the limit."""
        ...

    async def get(self, endpoint_id: EndpointId, *, for_update: bool = False) -> Endpoint | None:
        """`for_update`: lock the endpoint until the transaction ends; a concurrent change of
        it waits, then reads what this transaction committed (no lost update)."""
        ...

    async def update(self, endpoint: Endpoint) -> None: ...

    async def of_provider(self, provider_id: ProviderId) -> Sequence[Endpoint]:
        """Every endpoint of the provider, active or not, oldest first."""
        ...

    async def wanting(self, provider_id: ProviderId, event_type: EventType) -> Sequence[Endpoint]:
        """The provider's active endpoints subscribed to `event_type`."""
        ...


class Deliveries(Protocol):
    async def add(self, delivery: Delivery) -> bool:
        """Insert unless the endpoint already has a delivery of the event; True if inserted."""
        ...

    async def get(self, delivery_id: DeliveryId, *, for_update: bool = False) -> Delivery | None:
        """`for_update`: lock the delivery until the transaction ends (see Endpoints.get)."""
        ...

    async def record(self, delivery: Delivery, *, attempts_before: int) -> bool:
        """Store `delivery` (its status, attempts, next attempt and any attempts beyond
        `attempts_before`) if the stored one still has `attempts_before` attempts; True if so.
        Two runs of the same attempt (a job run twice) record it once."""
        ...

    async def of_endpoint(
        self, endpoint_id: EndpointId, *, before: DeliveryId | None = None, limit: int = 50
    ) -> Sequence[Delivery]:
        """Newest first, each with its attempts; `before` is the last id of the previous page."""
        ...

    async def dead(
        self, *, before: DeliveryId | None = None, limit: int = 50
    ) -> Sequence[Delivery]:
        """Dead deliveries of every endpoint, newest first (by creation, then id), each with its
        attempts; `before` is the last id of the previous page."""
        ...


class EventSource(Protocol):
    """Published events by id (the outbox)."""

    async def get(self, event_id: EventId) -> Event | None: ...


class WebhookJobs(Protocol):
    """Jobs deferred in the unit of work's transaction: they exist exactly when it commits."""

    async def deliver(self, delivery_id: DeliveryId, attempt: int, at: datetime | None) -> None:
        """Try `delivery_id` for the `attempt`-th time at `at` (None: now)."""
        ...


class IntegrationsUnitOfWork(UnitOfWork, Protocol):
    endpoints: Endpoints
    deliveries: Deliveries
    events: EventSource
    jobs: WebhookJobs


class WebhookPoster(Protocol):
    """POSTs a signed delivery to an integrator's endpoint. Never raises for what the endpoint
    or the network did: a refused address, a timeout or a reset come back as a PostOutcome with
    `status` None and `error`; any answer (redirects included, never followed) with its status,
    its body's first kilobyte and the latency."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostOutcome: ...
