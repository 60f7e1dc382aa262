"""The integrations unit of work: one connection and transaction, every integrations store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.integrations.repositories import (
    PostgisDeliveries,
    PostgisEndpoints,
    PostgisEventSource,
    PostgisWebhookJobs,
)
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from core.integrations.ports import IntegrationsUnitOfWork
from core.shared.unit_of_work import Access


class PostgisIntegrationsUnitOfWork(PostgisUnitOfWork, IntegrationsUnitOfWork):
    def __init__(self, engine: AsyncEngine, access: Access) -> None:
        super().__init__(engine, access)
        self.endpoints = PostgisEndpoints(self)
        self.deliveries = PostgisDeliveries(self)
        self.events = PostgisEventSource(self)
        self.jobs = PostgisWebhookJobs(self)

    @classmethod
    def factory(cls, engine: AsyncEngine) -> Callable[[Access], Self]:
        return lambda access: cls(engine, access)
