"""What every store that holds personal data offers the privacy use cases: its part of a
person's export, and its part of their erasure (issue 10; docs/privacy.md).

A context's adapter implements `PersonalRecords` over its own tables (or its provider's API);
the composition root lists them, in the order erasure runs them. The use cases of export and
erasure (`core.consent.rights`) know no table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from core.shared.ids import UserId

# What an export section may hold: JSON values (datetimes as ISO 8601 strings, money as
# {"amount_minor": int, "currency": str}, ids as strings).
Json = str | int | float | bool | None | Sequence["Json"] | Mapping[str, "Json"]


def export_time(at: datetime | None) -> str | None:
    """A datetime as an export writes it: ISO 8601, UTC as "Z" (None stays None)."""
    return None if at is None else at.isoformat().replace("+00:00", "Z")


class PersonalRecords(Protocol):
    """One store's records about a person."""

    @property
    def section(self) -> str:
        """The export's key for this store's part ("account", "sessions", "bookings", ...)."""
        ...

    async def export(self, person: UserId) -> Json:
        """Everything this store holds about `person`, opened (decrypted), as JSON values."""
        ...

    async def erase(self, person: UserId) -> None:
        """Delete what may go and leave pseudonymous what the law keeps (payments, refunds,
        the ledger, a provider's schedule). Idempotent, and safe to run again after a crash
        halfway; it must also work once the person's data key was shredded (their sealed
        values then open to None)."""
        ...
