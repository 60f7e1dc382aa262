"""In-memory consent store: the ledger and the policy documents with their unit of work. The
contract suite in tests/integration/consent runs the same scenarios here and on PostGIS.

A unit of work appends to a private list and publishes on `commit()`; leaving without
committing drops its writes. Appends take their `seq` from a per-key counter that uncommitted
appends advance too (a rolled-back one leaves a gap): seq orders, it need not be dense."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from adapters.memory.outbox import MemoryOutbox
from adapters.memory.transaction import MemoryTransaction
from core.consent.model import (
    ConsentEntry,
    Key,
    NewEntry,
    PolicyKind,
    PolicyVersion,
    Subject,
    wording_hash,
)
from core.consent.ports import ConsentLedger, ConsentUnitOfWork, PolicyDocuments
from core.shared.unit_of_work import Access


class MemoryConsentDatabase:
    """The committed rows; calling it opens a unit of work (the use cases' factory)."""

    def __init__(self) -> None:
        self.entries: list[ConsentEntry] = []
        self.policies: list[PolicyVersion] = []
        self.last_seq: dict[Key, int] = {}  # like a sequence: taken by uncommitted appends too

    def __call__(self, access: Access) -> MemoryConsentUnitOfWork:
        return MemoryConsentUnitOfWork(self)


class _Ledger(ConsentLedger):
    def __init__(self, database: MemoryConsentDatabase) -> None:
        self._database = database
        self.pending: list[ConsentEntry] = []

    def _all(self) -> list[ConsentEntry]:
        return [*self._database.entries, *self.pending]

    async def append(self, entry: NewEntry) -> ConsentEntry:
        seq = self._database.last_seq.get(entry.key, 0) + 1
        self._database.last_seq[entry.key] = seq
        appended = ConsentEntry.of(entry, seq=seq)
        self.pending.append(appended)
        return appended

    async def latest(self, key: Key) -> ConsentEntry | None:
        return max((e for e in self._all() if e.key == key), key=lambda e: e.seq, default=None)

    async def of_subject(self, subject: Subject) -> Sequence[ConsentEntry]:
        mine = [e for e in self._all() if e.key.subject == subject]
        return sorted(mine, key=lambda e: (e.at, e.seq, str(e.id)))


class _Policies(PolicyDocuments):
    def __init__(self, database: MemoryConsentDatabase) -> None:
        self._database = database
        self.pending: list[PolicyVersion] = []

    def _all(self) -> list[PolicyVersion]:
        return [*self._database.policies, *self.pending]

    async def publish(
        self, kind: PolicyKind, text: str, requires_fresh_consent: bool, at: datetime
    ) -> PolicyVersion:
        current = await self.current(kind)
        version = PolicyVersion(
            kind=kind,
            version=1 if current is None else current.version + 1,
            text=text,
            text_hash=wording_hash(text),
            requires_fresh_consent=requires_fresh_consent,
            published_at=at,
        )
        self.pending.append(version)
        return version

    async def current(self, kind: PolicyKind) -> PolicyVersion | None:
        of_kind = (p for p in self._all() if p.kind is kind)
        return max(of_kind, key=lambda p: p.version, default=None)

    async def get(self, kind: PolicyKind, version: int) -> PolicyVersion | None:
        return next((p for p in self._all() if p.kind is kind and p.version == version), None)

    async def fresh_consent_since(self) -> Mapping[PolicyKind, int]:
        fresh: dict[PolicyKind, int] = {}
        for p in self._all():
            if p.requires_fresh_consent and p.version > fresh.get(p.kind, 0):
                fresh[p.kind] = p.version
        return fresh


class MemoryConsentUnitOfWork(MemoryTransaction, ConsentUnitOfWork):
    def __init__(self, database: MemoryConsentDatabase) -> None:
        self._database = database
        self.outbox = MemoryOutbox()
        self.consents = _Ledger(database)
        self.policies = _Policies(database)

    def _discard(self) -> None:
        self.outbox.drop()
        self.consents.pending.clear()
        self.policies.pending.clear()

    async def commit(self) -> None:
        self._database.entries.extend(self.consents.pending)
        self._database.policies.extend(self.policies.pending)
        self.consents.pending.clear()
        self.policies.pending.clear()
        self.outbox.take()
