"""The append-only audit log, a hash chain (migration 0004 builds it in the database).

What an entry holds about a person (the client's IP address and user agent, personal details
such as an address typed at a failed login) is not chained: it is sealed under the entry's
subject, else its actor, in `audit_log_clients` (migration 0015), which retention and erasure
may delete. An entry about nobody keeps none of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from adapters.postgis.identity.personal import (
    AUDIT_DETAILS,
    AUDIT_IP,
    AUDIT_USER_AGENT,
    PERSONAL_DETAILS,
)
from adapters.postgis.identity.sessions import open_or_none, seal_or_none
from adapters.postgis.identity.tables import audit_log, audit_log_clients
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork
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
from core.shared.personal import PersonalData, PersonErased
from core.shared.time import to_utc


def _action(stored: str) -> AuditAction | str:
    """Identity's own actions as the enum; another context's as the string it wrote."""
    return AuditAction(stored) if stored in AuditAction.__members__.values() else stored


def person_of(actor: UserId | None, subject: UserId | None) -> UserId | None:
    """Whose key seals an entry's client data: its subject's, else its actor's."""
    return subject if subject is not None else actor


class PostgisAuditLog(PostgisPart, AuditLog):
    def __init__(self, uow: PostgisUnitOfWork, personal: PersonalData) -> None:
        super().__init__(uow)
        self._personal = personal

    async def append(self, entry: AuditEntry) -> None:
        details = {k: v for k, v in entry.details.items() if k not in PERSONAL_DETAILS}
        personal = {k: v for k, v in entry.details.items() if k in PERSONAL_DETAILS}
        await self._run(
            sa.insert(audit_log).values(
                id=entry.id,
                at=entry.at,
                action=str(entry.action),
                actor_user_id=entry.actor_user_id,
                subject_user_id=entry.subject_user_id,
                details=details,
            )
        )
        person = person_of(entry.actor_user_id, entry.subject_user_id)
        if person is None or (entry.ip is None and entry.user_agent is None and not personal):
            return
        try:
            sealed = {
                "ip_sealed": await seal_or_none(self._personal, person, entry.ip, AUDIT_IP),
                "user_agent_sealed": await seal_or_none(
                    self._personal, person, entry.user_agent, AUDIT_USER_AGENT
                ),
                "details_sealed": await seal_or_none(
                    self._personal,
                    person,
                    json.dumps(personal) if personal else None,
                    AUDIT_DETAILS,
                ),
            }
        except PersonErased:
            return  # nothing personal may be kept about an erased person
        await self._run(
            sa.insert(audit_log_clients).values(audit_id=entry.id, at=entry.at, **sealed)
        )

    async def query(self, query: AuditQuery) -> Sequence[AuditEntry]:
        a = audit_log.c
        select = (
            sa.select(
                audit_log,
                audit_log_clients.c.ip_sealed,
                audit_log_clients.c.user_agent_sealed,
                audit_log_clients.c.details_sealed,
            )
            .outerjoin(audit_log_clients, audit_log_clients.c.audit_id == a.id)
            .order_by(a.at.desc(), a.seq.desc())
            .limit(query.limit)
        )
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
        return [await self._entry(row) for row in rows.mappings()]

    async def _entry(self, row: sa.RowMapping) -> AuditEntry:
        actor = UserId(row["actor_user_id"]) if row["actor_user_id"] else None
        subject = UserId(row["subject_user_id"]) if row["subject_user_id"] else None
        person = person_of(actor, subject)
        ip = user_agent = None
        details: Mapping[str, Any] = row["details"]
        if person is not None:
            ip = await open_or_none(self._personal, person, row["ip_sealed"], AUDIT_IP)
            user_agent = await open_or_none(
                self._personal, person, row["user_agent_sealed"], AUDIT_USER_AGENT
            )
            personal = await open_or_none(
                self._personal, person, row["details_sealed"], AUDIT_DETAILS
            )
            if personal is not None:
                details = {**details, **json.loads(personal)}
        return AuditEntry(
            id=AuditEntryId(row["id"]),
            at=to_utc(row["at"]),
            action=_action(row["action"]),
            actor_user_id=actor,
            subject_user_id=subject,
            ip=ip,
            user_agent=user_agent,
            details=details,
        )

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
