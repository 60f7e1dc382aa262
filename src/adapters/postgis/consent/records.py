"""The consent ledger's part of a person's export and erasure (issue 10 §3, ADR 26).

Export: section "consents", every entry of the person, oldest first, with the policy version,
the wording's hash, the time and how it was given. Erasure keeps every entry: the ledger holds
no personal value (a user id, enums, a version, a hash, a time), and it is the controller's
proof that consent was given and withdrawn (GDPR Art. 7(1)); once the person's account and
data key are gone the entries are pseudonymous. Nothing to do, so erasing is idempotent.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.consent.store import PostgisConsentUnitOfWork
from core.consent.model import ConsentEntry, Subject
from core.consent.records import Json, PersonalRecords
from core.shared.ids import UserId
from core.shared.unit_of_work import Access


def entry_json(entry: ConsentEntry) -> Json:
    return {
        "id": str(entry.id),
        "purpose": entry.key.purpose.value,
        "channel": entry.key.channel.value,
        "seq": entry.seq,
        "decision": entry.decision.value,
        "policy_kind": entry.policy_kind.value,
        "policy_version": entry.policy_version,
        "wording_hash": entry.wording_hash,
        "method": entry.method.value,
        "at": entry.at.isoformat(),
        "merged_from_anonymous_id": entry.merged_from,
    }


class PostgisConsentRecords(PersonalRecords):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def section(self) -> str:
        return "consents"

    async def export(self, person: UserId) -> Json:
        async with PostgisConsentUnitOfWork(self._engine, Access.user(person)) as uow:
            entries = await uow.consents.of_subject(Subject.user(person))
        return [entry_json(entry) for entry in entries]

    async def erase(self, person: UserId) -> None:
        """Kept on purpose: proof of consent and of withdrawal, without personal values."""
        return
