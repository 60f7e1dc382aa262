"""Personal data sealed per person, so that destroying one key erases a person everywhere
(crypto-shredding; docs/adr/0025-personal-data-per-person-keys.md).

Every personal value a store keeps (an email address, a name, a phone number, an IP address, a
user agent, text a customer wrote) is sealed with AES-256-GCM under a data key of its person;
that key is kept wrapped by the keyring's key-encryption key (ADR 11). Erasure destroys the
person's key: every sealed copy, in any table, replica or backup taken since, stops opening.
Equality lookups (log in by email) use a keyed hash (`lookup_hash`), never the plaintext.

Sealing is a storage concern: adapters seal on write and open on read, and the core keeps
handling plain values. The core calls `shred` (erasure) and `is_erased`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from core.shared.keyring import Sealed


class PersonErased(Exception):
    """The person's data key was destroyed: nothing personal may be sealed for them again."""

    def __init__(self, person: UUID) -> None:
        super().__init__(f"person {person} was erased")
        self.person = person


class PersonalData(Protocol):
    """Seals and opens one person's values under that person's own data key."""

    async def seal(self, person: UUID, value: str, *, field: str) -> bytes:
        """`value` sealed for `person` and `field` (e.g. "identity.email"), which are bound to
        it: a blob copied to another person or field does not open. PersonErased if shredded."""
        ...

    async def open(self, person: UUID, blob: bytes, *, field: str) -> str | None:
        """The value; None once the person was erased (their key is gone). SealBroken when the
        blob was altered or moved."""
        ...

    async def lookup_hash(self, value: str, *, field: str) -> str:
        """A keyed hash (HMAC-SHA-256, hex) of an already-normalised value, for equality
        lookups and unique constraints. Same value and field, same hash; unkeyed guesses fail."""
        ...

    async def shred(self, person: UUID) -> bool:
        """Destroy the person's data key, for good; True if there was one. Idempotent."""
        ...

    async def is_erased(self, person: UUID) -> bool: ...


class PersonKeyVault(Protocol):
    """Where the wrapped person keys live (a table beside the data they seal)."""

    async def get(self, person: UUID) -> Sealed | None:
        """The person's wrapped key, None if they have none yet; PersonErased if shredded."""
        ...

    async def add(self, person: UUID, key: Sealed) -> Sealed:
        """Store `key` unless the person has one (a concurrent writer's wins): the stored key.
        PersonErased if shredded."""
        ...

    async def shred(self, person: UUID) -> bool:
        """Forget the key and remember that the person was erased; True if a key was dropped."""
        ...

    async def is_shredded(self, person: UUID) -> bool: ...

    async def lookup_key(self, candidate: Sealed) -> Sealed:
        """The one wrapped key of lookup hashes: `candidate` if none was stored yet."""
        ...


class ErasureRegister(Protocol):
    """Who was erased, kept apart from the database and its backups (beside the key file), so
    that a database restored from a backup taken before an erasure is shredded again before it
    serves (`reserva privacy reapply-erasures`). Holds person ids only: pseudonymous."""

    async def record(self, person: UUID) -> None:
        """Remember durably (flushed to disk) that `person` was erased."""
        ...

    async def people(self) -> Sequence[UUID]:
        """Everyone erased so far, oldest first, without repeats."""
        ...
