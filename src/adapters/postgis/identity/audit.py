"""The append-only audit log."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from adapters.postgis.identity.tables import audit_log
from adapters.postgis.unit_of_work import PostgisPart
from core.identity.model import AuditAction, AuditEntry, AuditEntryId, AuditQuery
from core.identity.ports import AuditLog
from core.shared.ids import UserId
from core.shared.time import to_utc


class PostgisAuditLog(PostgisPart, AuditLog):
    async def append(self, entry: AuditEntry) -> None:
        await self._run(
            sa.insert(audit_log).values(
                id=entry.id,
                at=entry.at,
                action=entry.action.value,
                actor_user_id=entry.actor_user_id,
                subject_user_id=entry.subject_user_id,
                ip=entry.ip,
                user_agent=entry.user_agent,
                details=dict(entry.details),
            )
        )

    async def query(self, query: AuditQuery) -> Sequence[AuditEntry]:
        a = audit_log.c
        select = sa.select(audit_log).order_by(a.at.desc(), a.seq.desc()).limit(query.limit)
        if query.user_id is not None:
            select = select.where(
                sa.or_(a.actor_user_id == query.user_id, a.subject_user_id == query.user_id)
            )
        if query.action is not None:
            select = select.where(a.action == query.action.value)
        if query.since is not None:
            select = select.where(a.at >= query.since)
        if query.until is not None:
            select = select.where(a.at < query.until)
        rows = await self._run(select)
        return [
            AuditEntry(
                id=AuditEntryId(row["id"]),
                at=to_utc(row["at"]),
                action=AuditAction(row["action"]),
                actor_user_id=UserId(row["actor_user_id"]) if row["actor_user_id"] else None,
                subject_user_id=UserId(row["subject_user_id"]) if row["subject_user_id"] else None,
                ip=row["ip"],
                user_agent=row["user_agent"],
                details=row["details"],
            )
            for row in rows.mappings()
        ]
