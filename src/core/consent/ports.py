"""What the consent context needs from the outside world: one store with two parts, the
append-only ledger and the policy documents. Adapters subclass these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from core.consent.model import (
    ConsentEntry,
    Key,
    NewEntry,
    PolicyKind,
    PolicyVersion,
    Subject,
)
from core.shared.unit_of_work import UnitOfWork


class ConsentLedger(Protocol):
    """Append-only: there is no update and no delete."""

    async def append(self, entry: NewEntry) -> ConsentEntry:
        """Append after the key's latest entry (seq = latest + 1). Concurrent appends to one
        key are serialised: every entry gets its own seq, none is lost."""
        ...

    async def latest(self, key: Key) -> ConsentEntry | None: ...

    async def of_subject(self, subject: Subject) -> Sequence[ConsentEntry]:
        """Every entry of the subject, oldest first (by time, then seq)."""
        ...


class PolicyDocuments(Protocol):
    async def publish(
        self, kind: PolicyKind, text: str, requires_fresh_consent: bool, at: datetime
    ) -> PolicyVersion:
        """The next version of `kind` (1 for the first); concurrent publishers get distinct
        versions."""
        ...

    async def current(self, kind: PolicyKind) -> PolicyVersion | None: ...

    async def get(self, kind: PolicyKind, version: int) -> PolicyVersion | None: ...

    async def fresh_consent_since(self) -> Mapping[PolicyKind, int]:
        """Per kind, the newest version published with `requires_fresh_consent`."""
        ...


class ConsentUnitOfWork(UnitOfWork, Protocol):
    consents: ConsentLedger
    policies: PolicyDocuments
