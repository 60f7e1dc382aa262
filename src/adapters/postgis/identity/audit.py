"""The append-only audit log, a hash chain (migration 0004 builds it in the database)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa

from adapters.postgis.identity.tables import audit_log
from adapters.postgis.unit_of_work import PostgisPart
from core.identity.model import (
    AuditAction,
    AuditChainBreak,
    AuditChainCheck,
    AuditEntry,
    AuditEntryId,
    AuditQuery,
)
from core.identity.ports import AuditLog
from core.shared.ids import UserId
from core.shared.time import to_utc


def _action(stored: str) -> AuditAction | str:
    """Identity's own actions as the enum; another context's as the string it wrote."""
    return AuditAction(stored) if stored in AuditAction.__members__.values() else stored


class PostgisAuditLog(PostgisPart, AuditLog):
    async def append(self, entry: AuditEntry) -> None:
        await self._run(
            sa.insert(audit_log).values(
                id=entry.id,
                at=entry.at,
                action=str(entry.action),
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
                action=_action(row["action"]),
                actor_user_id=UserId(row["actor_user_id"]) if row["actor_user_id"] else None,
                subject_user_id=UserId(row["subject_user_id"]) if row["subject_user_id"] else None,
                ip=row["ip"],
                user_agent=row["user_agent"],
                details=row["details"],
            )
            for row in rows.mappings()
        ]

    async def verify_chain(self) -> AuditChainCheck:
        """Recompute every link here, in Python: the database only supplies each entry's
        canonical bytes (`audit_log_canonical`, the encoding the chaining trigger hashed)."""
        previous, walked = GENESIS, 0
        rows = await self._conn.stream(_CHAIN_WALK)
        async for seq, entry_id, chain_seq, prev_hash, stored, canonical in rows:
            fault = _fault(walked + 1, chain_seq, previous, prev_hash, stored, canonical)
            if fault is not None:
                where = AuditChainBreak(
                    position=walked + 1, seq=seq, entry_id=AuditEntryId(entry_id), reason=fault
                )
                return AuditChainCheck(entries=walked, head=_head(walked, previous), broken=where)
            previous, walked = bytes(stored), walked + 1
        return AuditChainCheck(entries=walked, head=_head(walked, previous))


GENESIS = bytes(32)  # the previous hash of the first entry
_CHAIN_WALK = sa.text(
    "SELECT seq, id, chain_seq, prev_hash, hash, audit_log_canonical(a) FROM audit_log a"
    " ORDER BY chain_seq NULLS LAST, seq"
)


def _fault(
    position: int,
    chain_seq: int | None,
    previous: bytes,
    prev_hash: bytes | None,
    stored: bytes | None,
    canonical: bytes,
) -> str | None:
    """What is wrong with the entry at `position`, None if it holds."""
    if chain_seq is None or prev_hash is None or stored is None:
        return "is outside the chain: it was written with the chain trigger turned off"
    if chain_seq != position:
        removed = str(position) if chain_seq == position + 1 else f"{position}-{chain_seq - 1}"
        return f"follows a gap: chain entries {removed} were removed"
    if bytes(prev_hash) != previous:
        return "does not link to the entry before it"
    if hashlib.sha256(previous + bytes(canonical)).digest() != bytes(stored):
        return "was changed after it was written"
    return None


def _head(walked: int, previous: bytes) -> str | None:
    return previous.hex() if walked else None
