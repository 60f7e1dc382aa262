"""An in-memory `PersonalData`: per-person keys in a dict, the memory keyring's toy cipher.

Keeps the contract (a blob opens for its person and field only, hides its plaintext, opens
to None once its person is shredded, a shredded person cannot be sealed for again). Tests only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from uuid import UUID

from adapters.memory.keyring import _box, _unbox
from core.shared.personal import PersonalData, PersonErased


class MemoryPersonalData(PersonalData):
    def __init__(self) -> None:
        self._keys: dict[UUID, bytes] = {}
        self._shredded: set[UUID] = set()
        self._lookup = secrets.token_bytes(32)

    async def seal(self, person: UUID, value: str, *, field: str) -> bytes:
        if person in self._shredded:
            raise PersonErased(person)
        key = self._keys.setdefault(person, secrets.token_bytes(32))
        return _box(key, value.encode(), f"{field}/{person}".encode())

    async def open(self, person: UUID, blob: bytes, *, field: str) -> str | None:
        if person in self._shredded:
            return None
        return _unbox(self._keys[person], blob, f"{field}/{person}".encode()).decode()

    async def lookup_hash(self, value: str, *, field: str) -> str:
        message = field.encode() + b"\x00" + value.encode()
        return hmac.new(self._lookup, message, hashlib.sha256).hexdigest()

    async def shred(self, person: UUID) -> bool:
        self._shredded.add(person)
        return self._keys.pop(person, None) is not None

    async def is_erased(self, person: UUID) -> bool:
        return person in self._shredded
