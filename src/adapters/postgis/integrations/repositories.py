"""Endpoints, deliveries (with their attempts), the outbox read by id, and delivery jobs.

A delivery is inserted ON CONFLICT (endpoint, event) DO NOTHING, so dispatching an event twice
adds nothing; an attempt is recorded by one UPDATE conditional on the attempts count it was
made from, so a job run twice records it once. Jobs are deferred with H1's `defer` on the unit
of work's own connection: they exist exactly when the delivery's transaction commits.

The limit of active endpoints per provider is kept by the insert itself: it takes a
transaction-level advisory lock keyed by the provider, then inserts only if fewer than `limit`
active endpoints exist (READ COMMITTED: the count sees every registration committed before the
lock was granted). Reads `for_update` take the row lock (SELECT ... FOR UPDATE).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.integrations.tables import (
    webhook_deliveries,
    webhook_delivery_attempts,
    webhook_endpoints,
)
from adapters.postgis.jobs import DELIVER_WEBHOOK, WEBHOOKS_QUEUE, defer
from adapters.postgis.sql import Row, utc_or_none
from adapters.postgis.unit_of_work import PostgisPart, outbox_event
from core.integrations.model import (
    ENDPOINTS_PER_PROVIDER,
    Attempt,
    Delivery,
    DeliveryId,
    DeliveryStatus,
    Endpoint,
    EndpointId,
    EventType,
    PostOutcome,
    SealedSecret,
)
from core.integrations.ports import Deliveries, Endpoints, EventSource, WebhookJobs
from core.shared.events import Event
from core.shared.ids import EventId, ProviderId
from core.shared.keyring import Sealed
from core.shared.time import to_utc

E = webhook_endpoints.c
D = webhook_deliveries.c
A = webhook_delivery_attempts.c

# A literal, not a parameter: a generic plan of `status = $1` cannot use the partial index.
_DEAD: sa.ColumnElement[str] = sa.literal_column(f"'{DeliveryStatus.DEAD.value}'")

# The advisory lock space of the endpoints' limit: (this key, hashtext(provider id)).
_ENDPOINTS_LOCK = sa.text(
    "SELECT pg_advisory_xact_lock(hashtext('webhook_endpoints'), hashtext(:p))"
)


def _endpoint_values(endpoint: Endpoint) -> dict[str, Any]:
    previous = endpoint.previous_secret
    return {
        "id": endpoint.id,
        "provider_id": endpoint.provider_id,
        "url": endpoint.url,
        "event_types": sorted(t.value for t in endpoint.event_types),
        "active": endpoint.active,
        "description": endpoint.description,
        "created_at": endpoint.created_at,
        "secret_sealed": endpoint.secret.sealed.to_bytes(),
        "secret_created_at": endpoint.secret.created_at,
        "previous_secret_sealed": None if previous is None else previous.sealed.to_bytes(),
        "previous_secret_created_at": None if previous is None else previous.created_at,
        "previous_secret_expires_at": None if previous is None else previous.expires_at,
    }


def _endpoint(row: Row) -> Endpoint:
    previous = None
    if row.previous_secret_sealed is not None:
        previous = SealedSecret(
            sealed=Sealed.from_bytes(bytes(row.previous_secret_sealed)),
            created_at=to_utc(row.previous_secret_created_at),
            expires_at=utc_or_none(row.previous_secret_expires_at),
        )
    return Endpoint(
        id=EndpointId(row.id),
        provider_id=ProviderId(row.provider_id),
        url=row.url,
        event_types=frozenset(EventType(name) for name in row.event_types),
        active=row.active,
        created_at=to_utc(row.created_at),
        secret=SealedSecret(
            sealed=Sealed.from_bytes(bytes(row.secret_sealed)),
            created_at=to_utc(row.secret_created_at),
        ),
        previous_secret=previous,
        description=row.description,
    )


class PostgisEndpoints(PostgisPart, Endpoints):
    async def add(self, endpoint: Endpoint, *, limit: int = ENDPOINTS_PER_PROVIDER) -> bool:
        await self._run(_ENDPOINTS_LOCK.bindparams(p=str(endpoint.provider_id)))
        values = _endpoint_values(endpoint)
        active = (
            sa.select(sa.func.count())
            .select_from(webhook_endpoints)
            .where(E.provider_id == endpoint.provider_id, E.active.is_(True))
            .scalar_subquery()
        )
        row = sa.select(
            *(sa.literal(v, type_=webhook_endpoints.c[k].type) for k, v in values.items())
        )
        statement = (
            webhook_endpoints.insert()
            .from_select(list(values), row.where(active < limit))
            .execution_options(preserve_rowcount=True)
        )
        return (await self._run(statement)).rowcount == 1

    async def get(self, endpoint_id: EndpointId, *, for_update: bool = False) -> Endpoint | None:
        query = sa.select(webhook_endpoints).where(E.id == endpoint_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._run(query)).first()
        return None if row is None else _endpoint(row)

    async def update(self, endpoint: Endpoint) -> None:
        values = _endpoint_values(endpoint)
        del values["id"], values["provider_id"], values["created_at"]
        await self._run(webhook_endpoints.update().where(E.id == endpoint.id).values(values))

    async def of_provider(self, provider_id: ProviderId) -> Sequence[Endpoint]:
        query = (
            sa.select(webhook_endpoints)
            .where(E.provider_id == provider_id)
            .order_by(E.created_at, E.id)
        )
        return [_endpoint(row) for row in await self._run(query)]

    async def wanting(self, provider_id: ProviderId, event_type: EventType) -> Sequence[Endpoint]:
        query = (
            sa.select(webhook_endpoints)
            .where(
                E.provider_id == provider_id,
                E.active.is_(True),
                E.event_types.any_() == event_type.value,
            )
            .order_by(E.created_at, E.id)
        )
        return [_endpoint(row) for row in await self._run(query)]


def _text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: an endpoint's answer may."""
    return None if value is None else value.replace("\x00", "\ufffd")


def _delivery(row: Row, attempts: Sequence[Attempt]) -> Delivery:
    return Delivery(
        id=DeliveryId(row.id),
        endpoint_id=EndpointId(row.endpoint_id),
        event_id=EventId(row.event_id),
        event_type=EventType(row.event_type),
        payload=row.payload,
        created_at=to_utc(row.created_at),
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=utc_or_none(row.next_attempt_at),
        attempt_log=tuple(attempts),
    )


def _attempt(row: Row) -> Attempt:
    return Attempt(
        number=row.number,
        at=to_utc(row.at),
        outcome=PostOutcome(
            status=row.status, body=row.body, latency_ms=row.latency_ms, error=row.error
        ),
    )


def dead_deliveries_query(before: DeliveryId | None, limit: int) -> sa.Select[Any]:
    """Dead deliveries newest first (created_at, then id), below `before`'s place: read through
    the partial index ix_webhook_deliveries_dead (test_integrations_races checks the plan)."""
    query = sa.select(webhook_deliveries).where(D.status == _DEAD)
    if before is not None:
        at = sa.select(D.created_at).where(D.id == before).scalar_subquery()
        query = query.where(sa.tuple_(D.created_at, D.id) < sa.tuple_(at, before))
    return query.order_by(D.created_at.desc(), D.id.desc()).limit(limit)


class PostgisDeliveries(PostgisPart, Deliveries):
    async def add(self, delivery: Delivery) -> bool:
        statement = (
            insert(webhook_deliveries)
            .values(
                id=delivery.id,
                endpoint_id=delivery.endpoint_id,
                event_id=delivery.event_id,
                event_type=delivery.event_type.value,
                payload=delivery.payload,
                status=delivery.status.value,
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at,
                created_at=delivery.created_at,
            )
            .on_conflict_do_nothing(index_elements=[D.endpoint_id, D.event_id])
            .execution_options(preserve_rowcount=True)
        )
        return (await self._run(statement)).rowcount == 1

    async def get(self, delivery_id: DeliveryId, *, for_update: bool = False) -> Delivery | None:
        query = sa.select(webhook_deliveries).where(D.id == delivery_id)
        if for_update:
            query = query.with_for_update()
        found = await self._with_attempts(query)
        return found[0] if found else None

    async def record(self, delivery: Delivery, *, attempts_before: int) -> bool:
        last = delivery.last
        values: dict[str, Any] = {
            "status": delivery.status.value,
            "attempts": delivery.attempts,
            "next_attempt_at": delivery.next_attempt_at,
        }
        if last is not None and last.number > attempts_before:
            values |= {
                "last_status": last.outcome.status,
                "last_body": _text(last.outcome.body),
                "last_latency_ms": last.outcome.latency_ms,
                "last_error": _text(last.outcome.error),
            }
        statement = (
            webhook_deliveries.update()
            .where(D.id == delivery.id, D.attempts == attempts_before)
            .values(values)
            .execution_options(preserve_rowcount=True)
        )
        if (await self._run(statement)).rowcount != 1:
            return False
        new = [a for a in delivery.attempt_log if a.number > attempts_before]
        if new:
            await self._conn.execute(
                webhook_delivery_attempts.insert(),
                [
                    {
                        "delivery_id": delivery.id,
                        "number": a.number,
                        "at": a.at,
                        "status": a.outcome.status,
                        "body": _text(a.outcome.body),
                        "latency_ms": a.outcome.latency_ms,
                        "error": _text(a.outcome.error),
                    }
                    for a in new
                ],
            )
        return True

    async def of_endpoint(
        self, endpoint_id: EndpointId, *, before: DeliveryId | None = None, limit: int = 50
    ) -> Sequence[Delivery]:
        query = sa.select(webhook_deliveries).where(D.endpoint_id == endpoint_id)
        if before is not None:
            cursor = sa.select(D.seq).where(D.id == before).scalar_subquery()
            query = query.where(D.seq < cursor)
        return await self._with_attempts(query.order_by(D.seq.desc()).limit(limit))

    async def dead(
        self, *, before: DeliveryId | None = None, limit: int = 50
    ) -> Sequence[Delivery]:
        """Through ix_webhook_deliveries_dead (created_at WHERE status = 'dead')."""
        query = dead_deliveries_query(before, limit)
        return await self._with_attempts(query)

    async def _with_attempts(self, query: sa.Select[Any]) -> list[Delivery]:
        rows = list(await self._run(query))
        if not rows:
            return []
        found = await self._run(
            sa.select(webhook_delivery_attempts)
            .where(A.delivery_id.in_([row.id for row in rows]))
            .order_by(A.delivery_id, A.number)
        )
        attempts: dict[Any, list[Attempt]] = {}
        for row in found:
            attempts.setdefault(row.delivery_id, []).append(_attempt(row))
        return [_delivery(row, attempts.get(row.id, [])) for row in rows]


class PostgisEventSource(PostgisPart, EventSource):
    async def get(self, event_id: EventId) -> Event | None:
        return await outbox_event(self._conn, event_id)


class PostgisWebhookJobs(PostgisPart, WebhookJobs):
    async def deliver(self, delivery_id: DeliveryId, attempt: int, at: datetime | None) -> None:
        args = {"delivery_id": str(delivery_id), "attempt": attempt}
        await defer(self._conn, DELIVER_WEBHOOK, args, queue=WEBHOOKS_QUEUE, schedule_at=at)
