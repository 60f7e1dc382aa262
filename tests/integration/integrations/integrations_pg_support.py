"""The integrations store under test, per adapter: its unit-of-work factory, how an event gets
into its outbox, and the delivery jobs it deferred (memory: its list; PostGIS: procrastinate's
jobs table)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.integrations import DeferredDelivery, MemoryIntegrationsStore
from adapters.postgis.integrations import PostgisIntegrationsUnitOfWork
from adapters.postgis.jobs import DELIVER_WEBHOOK
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from core.integrations import DeliveryId, IntegrationsUnitOfWork
from core.shared.events import Event
from core.shared.time import to_utc
from core.shared.unit_of_work import MAINTENANCE, Access, UnitOfWorkFactory

STORE_KINDS = ("memory", "postgis")
TABLES = "webhook_delivery_attempts, webhook_deliveries, webhook_endpoints, outbox"


@attrs.frozen
class Store:
    name: str
    uow: UnitOfWorkFactory[IntegrationsUnitOfWork]
    publish: Callable[[Event], Awaitable[None]]
    jobs: Callable[[], Awaitable[list[DeferredDelivery]]]


def memory_store() -> Store:
    store = MemoryIntegrationsStore()

    async def publish(event: Event) -> None:
        store.publish(event)

    async def jobs() -> list[DeferredDelivery]:
        return list(store.jobs)

    return Store("memory", store, publish, jobs)


async def postgis_jobs(owner: AsyncEngine) -> list[DeferredDelivery]:
    async with owner.connect() as connection:
        rows = await connection.execute(
            sa.text(
                "SELECT args, scheduled_at FROM procrastinate_jobs"
                " WHERE task_name = :task AND queue_name = 'webhooks' ORDER BY id"
            ),
            {"task": DELIVER_WEBHOOK},
        )
        return [
            DeferredDelivery(
                delivery_id=DeliveryId(uuid.UUID(args["delivery_id"])),
                attempt=args["attempt"],
                at=None if at is None else to_utc(at),
            )
            for args, at in rows
        ]


def postgis_store(engine: AsyncEngine, owner: AsyncEngine) -> Store:
    async def publish(event: Event) -> None:
        async with PostgisUnitOfWork(engine, MAINTENANCE) as uow:
            await uow.outbox.add(event)
            await uow.commit()

    async def jobs() -> list[DeferredDelivery]:
        return await postgis_jobs(owner)

    def uow(access: Access) -> IntegrationsUnitOfWork:
        return PostgisIntegrationsUnitOfWork(engine, access)

    return Store("postgis", uow, publish, jobs)


def scheduled(jobs: list[DeferredDelivery]) -> list[tuple[DeliveryId, int, datetime | None]]:
    return [(job.delivery_id, job.attempt, job.at) for job in jobs]
