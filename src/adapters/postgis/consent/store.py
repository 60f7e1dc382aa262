"""The consent ledger and the policy documents on PostgreSQL.

Appends to one key are serialised by a transaction-level advisory lock on the key, taken
before the `max(seq) + 1` insert; the partial unique indexes on (subject, purpose, channel,
seq) are the backstop. Publishing locks the policy kind the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.consent.tables import consent_entries, policy_versions
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork
from core.consent.model import (
    AnonymousId,
    Channel,
    ConsentEntry,
    Decision,
    EntryId,
    Key,
    Method,
    NewEntry,
    PolicyKind,
    PolicyVersion,
    Purpose,
    Subject,
    wording_hash,
)
from core.consent.ports import ConsentLedger, ConsentUnitOfWork, PolicyDocuments
from core.shared.ids import UserId
from core.shared.time import to_utc
from core.shared.unit_of_work import Access, UnitOfWorkFactory

E = consent_entries.c
P = policy_versions.c
LOCK = sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:lock, 0))")


def _of_subject(subject: Subject) -> sa.ColumnElement[bool]:
    if subject.user_id is not None:
        return E.user_id == subject.user_id
    return E.anonymous_id == subject.anonymous_id


def _of_key(key: Key) -> sa.ColumnElement[bool]:
    return sa.and_(
        _of_subject(key.subject), E.purpose == key.purpose.value, E.channel == key.channel.value
    )


def _entry(row: Any) -> ConsentEntry:
    subject = (
        Subject.user(UserId(row.user_id))
        if row.user_id is not None
        else Subject.anonymous(AnonymousId(row.anonymous_id))
    )
    return ConsentEntry(
        id=EntryId(row.id),
        key=Key(subject=subject, purpose=Purpose(row.purpose), channel=Channel(row.channel)),
        seq=row.seq,
        decision=Decision(row.decision),
        policy_kind=PolicyKind(row.policy_kind),
        policy_version=row.policy_version,
        wording_hash=row.wording_hash,
        method=Method(row.method),
        at=to_utc(row.at),
        merged_from=None if row.merged_from is None else AnonymousId(row.merged_from),
    )


def _policy(row: Any) -> PolicyVersion:
    return PolicyVersion(
        kind=PolicyKind(row.kind),
        version=row.version,
        text=row.text,
        text_hash=row.text_hash,
        requires_fresh_consent=row.requires_fresh_consent,
        published_at=to_utc(row.published_at),
    )


class PostgisConsentLedger(PostgisPart, ConsentLedger):
    async def append(self, entry: NewEntry) -> ConsentEntry:
        key = entry.key
        await self._conn.execute(
            LOCK, {"lock": f"consent:{key.subject}:{key.purpose}:{key.channel}"}
        )
        next_seq = (
            sa.select(sa.func.coalesce(sa.func.max(E.seq), 0) + 1)
            .where(_of_key(key))
            .scalar_subquery()
        )
        values = {
            "id": entry.id,
            "user_id": key.subject.user_id,
            "anonymous_id": key.subject.anonymous_id,
            "purpose": key.purpose.value,
            "channel": key.channel.value,
            "seq": next_seq,
            "decision": entry.decision.value,
            "policy_kind": entry.policy_kind.value,
            "policy_version": entry.policy_version,
            "wording_hash": entry.wording_hash,
            "method": entry.method.value,
            "at": entry.at,
            "merged_from": entry.merged_from,
        }
        seq = (
            await self._run(consent_entries.insert().values(values).returning(E.seq))
        ).scalar_one()
        return ConsentEntry.of(entry, seq=seq)

    async def latest(self, key: Key) -> ConsentEntry | None:
        statement = consent_entries.select().where(_of_key(key)).order_by(E.seq.desc()).limit(1)
        row = (await self._run(statement)).first()
        return None if row is None else _entry(row)

    async def of_subject(self, subject: Subject) -> Sequence[ConsentEntry]:
        statement = consent_entries.select().where(_of_subject(subject)).order_by(E.at, E.seq, E.id)
        return [_entry(row) for row in await self._run(statement)]


class PostgisPolicyDocuments(PostgisPart, PolicyDocuments):
    async def publish(
        self, kind: PolicyKind, text: str, requires_fresh_consent: bool, at: datetime
    ) -> PolicyVersion:
        await self._conn.execute(LOCK, {"lock": f"policy:{kind}"})
        next_version = (
            sa.select(sa.func.coalesce(sa.func.max(P.version), 0) + 1)
            .where(P.kind == kind.value)
            .scalar_subquery()
        )
        statement = (
            policy_versions.insert()
            .values(
                kind=kind.value,
                version=next_version,
                text=text,
                text_hash=wording_hash(text),
                requires_fresh_consent=requires_fresh_consent,
                published_at=at,
            )
            .returning(*policy_versions.c)
        )
        return _policy((await self._run(statement)).one())

    async def current(self, kind: PolicyKind) -> PolicyVersion | None:
        statement = (
            policy_versions.select().where(P.kind == kind.value).order_by(P.version.desc()).limit(1)
        )
        row = (await self._run(statement)).first()
        return None if row is None else _policy(row)

    async def get(self, kind: PolicyKind, version: int) -> PolicyVersion | None:
        statement = policy_versions.select().where(P.kind == kind.value, P.version == version)
        row = (await self._run(statement)).first()
        return None if row is None else _policy(row)

    async def fresh_consent_since(self) -> Mapping[PolicyKind, int]:
        newest = sa.func.max(P.version).label("version")
        statement = sa.select(P.kind, newest).where(P.requires_fresh_consent).group_by(P.kind)
        rows = (await self._run(statement)).all()
        return {PolicyKind(row.kind): int(row.version) for row in rows}


class PostgisConsentUnitOfWork(PostgisUnitOfWork, ConsentUnitOfWork):
    def __init__(self, engine: AsyncEngine, access: Access) -> None:
        super().__init__(engine, access)
        self.consents = PostgisConsentLedger(self)
        self.policies = PostgisPolicyDocuments(self)

    @classmethod
    def factory(cls, engine: AsyncEngine) -> UnitOfWorkFactory[PostgisConsentUnitOfWork]:
        def open_unit(access: Access) -> PostgisConsentUnitOfWork:
            return cls(engine, access)

        return open_unit
