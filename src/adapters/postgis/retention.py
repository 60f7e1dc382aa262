"""Retention sweeps on PostgreSQL (core.consent.retention), through the SECURITY DEFINER
functions of migration 0019: the app role cannot delete these rows any other way.

Each call is one short transaction: a count, or one batch of at most `batch` rows, locked
with SKIP LOCKED so a sweep never waits on (or blocks) a request holding one of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from core.consent.retention import AbandonedAccounts, DataClass, RetentionStore
from core.shared.ids import UserId

_COUNT = sa.text("SELECT retention_count(:data, :cut)")
_SWEEP = sa.text("SELECT retention_sweep(:data, :cut, :batch)")
_ABANDONED_COUNT = sa.text("SELECT retention_abandoned_count(:cut)")
_ABANDONED = sa.text("SELECT id FROM retention_abandoned_accounts(:cut, :batch)")


class PostgisRetentionStore(RetentionStore):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def count(self, data: DataClass, cut: datetime) -> int | None:
        async with self._engine.begin() as connection:
            found = await connection.execute(_COUNT, {"data": data.value, "cut": cut})
            count = found.scalar_one()
        return None if count is None else int(count)

    async def sweep(self, data: DataClass, cut: datetime, batch: int) -> int:
        params = {"data": data.value, "cut": cut, "batch": batch}
        async with self._engine.begin() as connection:
            went = (await connection.execute(_SWEEP, params)).scalar_one()
        if went is None:
            raise LookupError(f"this database has no table for {data}")
        return int(went)


class PostgisAbandonedAccounts(AbandonedAccounts):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def count(self, before: datetime) -> int:
        async with self._engine.begin() as connection:
            return int((await connection.execute(_ABANDONED_COUNT, {"cut": before})).scalar_one())

    async def list(self, before: datetime, limit: int) -> Sequence[UserId]:
        async with self._engine.begin() as connection:
            rows = await connection.execute(_ABANDONED, {"cut": before, "batch": limit})
            return [UserId(uuid.UUID(str(row.id))) for row in rows]
