"""Exports and erasures in PostgreSQL (migration 0018): the rights' unit of work.

An export's content is sealed here, under its person's own key (`PersonalData`, field
"privacy.export"): it never reaches a table in clear, and it stops opening once the person is
erased (their rows are deleted by the erasure anyway).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.jobs import BUILD_EXPORT, ERASE_PERSON, AlreadyQueued, defer, queue_of
from adapters.postgis.privacy.tables import erasure_requests, privacy_exports
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork
from core.consent.rights_ports import (
    ErasureRequest,
    Erasures,
    Export,
    ExportId,
    Exports,
    ExportStatus,
    RightsJobs,
    RightsUnitOfWork,
)
from core.shared.ids import UserId
from core.shared.personal import PersonalData
from core.shared.unit_of_work import Access

EXPORT_FIELD = "privacy.export"
_t = privacy_exports
_e = erasure_requests


def _export(row: sa.Row[Any]) -> Export:
    return Export(
        id=ExportId(row.id),
        person=UserId(row.person_id),
        status=ExportStatus(row.status),
        requested_at=row.requested_at,
        ready_at=row.ready_at,
        expires_at=row.expires_at,
        link_expires_at=row.link_expires_at,
    )


_EXPORT_COLUMNS = (
    _t.c.id,
    _t.c.person_id,
    _t.c.status,
    _t.c.requested_at,
    _t.c.ready_at,
    _t.c.expires_at,
    _t.c.link_expires_at,
)


class PostgisExports(PostgisPart, Exports):
    def __init__(self, uow: PostgisRightsUnitOfWork, personal: PersonalData) -> None:
        super().__init__(uow)
        self._personal = personal

    async def add(self, export: Export) -> None:
        await self._run(
            _t.insert().values(
                id=export.id,
                person_id=export.person,
                status=export.status.value,
                requested_at=export.requested_at,
            )
        )

    async def get(self, export_id: ExportId) -> Export | None:
        row = (await self._run(sa.select(*_EXPORT_COLUMNS).where(_t.c.id == export_id))).first()
        return None if row is None else _export(row)

    async def latest(self, person: UserId) -> Export | None:
        query = (
            sa.select(*_EXPORT_COLUMNS)
            .where(_t.c.person_id == person)
            .order_by(_t.c.requested_at.desc(), _t.c.id.desc())
            .limit(1)
        )
        row = (await self._run(query)).first()
        return None if row is None else _export(row)

    async def store(self, export: Export, content: str) -> None:
        sealed = await self._personal.seal(export.person, content, field=EXPORT_FIELD)
        await self._run(
            _t.update()
            .where(_t.c.id == export.id)
            .values(
                status=export.status.value,
                ready_at=export.ready_at,
                expires_at=export.expires_at,
                content_sealed=sealed,
            )
        )

    async def set_link(self, export_id: ExportId, token_hash: str, expires_at: datetime) -> None:
        await self._run(
            _t.update()
            .where(_t.c.id == export_id)
            .values(token_hash=token_hash, link_expires_at=expires_at)
        )

    async def by_link(self, token_hash: str) -> tuple[Export, str | None] | None:
        query = sa.select(*_EXPORT_COLUMNS, _t.c.content_sealed).where(
            _t.c.token_hash == token_hash
        )
        row = (await self._run(query)).first()
        if row is None:
            return None
        export = _export(row)
        if row.content_sealed is None:
            return export, None
        content = await self._personal.open(
            export.person, bytes(row.content_sealed), field=EXPORT_FIELD
        )
        return export, content

    async def remove_for(self, person: UserId) -> int:
        return (await self._run(_t.delete().where(_t.c.person_id == person))).rowcount


def _erasure(row: sa.Row[Any]) -> ErasureRequest:
    return ErasureRequest(
        person=UserId(row.person_id),
        requested_at=row.requested_at,
        requested_by=row.requested_by,
        steps_done=tuple(row.steps_done),
        completed_at=row.completed_at,
        last_error=row.last_error,
    )


class PostgisErasures(PostgisPart, Erasures):
    async def get(self, person: UserId) -> ErasureRequest | None:
        row = (await self._run(sa.select(_e).where(_e.c.person_id == person))).first()
        return None if row is None else _erasure(row)

    async def add(self, request: ErasureRequest) -> bool:
        added = await self._run(
            insert(_e)
            .values(
                person_id=request.person,
                requested_at=request.requested_at,
                requested_by=request.requested_by,
                steps_done=list(request.steps_done),
            )
            .on_conflict_do_nothing(index_elements=[_e.c.person_id])
            .returning(_e.c.person_id)
        )
        return added.first() is not None

    async def save(self, request: ErasureRequest) -> None:
        await self._run(
            _e.update()
            .where(_e.c.person_id == request.person)
            .values(
                steps_done=list(request.steps_done),
                completed_at=request.completed_at,
                last_error=request.last_error,
            )
        )


def erasure_lock(person: UserId) -> str:
    return f"erase:{person}"


class PostgisRightsJobs(PostgisPart, RightsJobs):
    async def build_export(self, export_id: ExportId) -> None:
        await defer(
            self._conn, BUILD_EXPORT, {"export_id": str(export_id)}, queue=queue_of(BUILD_EXPORT)
        )

    async def erase_person(self, person: UserId) -> None:
        try:
            await defer(
                self._conn,
                ERASE_PERSON,
                {"person_id": str(person)},
                queue=queue_of(ERASE_PERSON),
                queueing_lock=erasure_lock(person),
            )
        except AlreadyQueued:
            return  # one waiting erasure job per person is enough


class PostgisRightsUnitOfWork(PostgisUnitOfWork, RightsUnitOfWork):
    def __init__(self, engine: AsyncEngine, personal: PersonalData, access: Access) -> None:
        super().__init__(engine, access)
        self.exports = PostgisExports(self, personal)
        self.erasures = PostgisErasures(self)
        self.jobs = PostgisRightsJobs(self)
