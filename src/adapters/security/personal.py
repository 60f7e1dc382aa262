"""Per-person AES-256-GCM sealing (docs/adr/0025-personal-data-per-person-keys.md).

Each person has one 256-bit data key, kept in a `PersonKeyVault` sealed by the keyring (so the
KEK wraps it and `reserva keys rotate-kek` re-wraps it). A value's blob is version, 96-bit random
nonce, ciphertext and tag; the associated data names the field and the person. A person's key
seals many values, so nonces are random 96-bit: the collision bound (2^-32 after 2^32 values
under one key) is far beyond what one person writes.

Unwrapped person keys are cached for `cache_seconds` (default 5 s) so a page listing one
person's sessions unwraps once. A shred clears this process's cache at once; other processes
stop within `cache_seconds`, and by then the erasure job has also deleted or emptied the rows.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.shared.keyring import Keyring, SealBroken
from core.shared.personal import ErasureRegister, PersonalData, PersonErased, PersonKeyVault

_VERSION = b"\x01"
_NONCE = 12
_LOOKUP_PURPOSE = "privacy.lookup_key"
_CACHE_LIMIT = 10_000


def _person_key_purpose(person: UUID) -> str:
    return f"privacy.person_key/{person}"


def _context(person: UUID, field: str) -> bytes:
    return f"reserva/personal/v1/{field}/{person}".encode()


class AesGcmPersonalData(PersonalData):
    def __init__(
        self,
        vault: PersonKeyVault,
        keyring: Keyring,
        register: ErasureRegister | None = None,
        *,
        cache_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._vault = vault
        self._keyring = keyring
        self._register = register
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: OrderedDict[UUID, tuple[float, bytes]] = OrderedDict()
        self._lookup: bytes | None = None

    async def seal(self, person: UUID, value: str, *, field: str) -> bytes:
        key = await self._key(person, create=True)
        assert key is not None
        nonce = os.urandom(_NONCE)
        return (
            _VERSION + nonce + AESGCM(key).encrypt(nonce, value.encode(), _context(person, field))
        )

    async def open(self, person: UUID, blob: bytes, *, field: str) -> str | None:
        if blob[:1] != _VERSION or len(blob) < 1 + _NONCE + 16:
            raise SealBroken("not a sealed personal value")
        try:
            key = await self._key(person, create=False)
        except PersonErased:
            return None
        if key is None:
            raise SealBroken(f"no data key for person {person}")
        nonce, body = blob[1 : 1 + _NONCE], blob[1 + _NONCE :]
        try:
            return AESGCM(key).decrypt(nonce, body, _context(person, field)).decode()
        except InvalidTag:
            raise SealBroken("personal value did not authenticate") from None

    async def lookup_hash(self, value: str, *, field: str) -> str:
        if self._lookup is None:
            candidate = await self._keyring.seal(os.urandom(32), purpose=_LOOKUP_PURPOSE)
            stored = await self._vault.lookup_key(candidate)
            self._lookup = await self._keyring.open(stored, purpose=_LOOKUP_PURPOSE)
        message = field.encode() + b"\x00" + value.encode()
        return hmac.new(self._lookup, message, hashlib.sha256).hexdigest()

    async def shred(self, person: UUID) -> bool:
        if self._register is not None:  # first: a restore must find every erasure
            await self._register.record(person)
        self._cache.pop(person, None)
        return await self._vault.shred(person)

    async def reapply_erasures(self) -> int:
        """Shred again everyone the register names (after restoring a backup); how many still
        had a key."""
        if self._register is None:
            return 0
        return sum([await self._vault.shred(person) for person in await self._register.people()])

    async def is_erased(self, person: UUID) -> bool:
        return await self._vault.is_shredded(person)

    async def _key(self, person: UUID, *, create: bool) -> bytes | None:
        now = self._monotonic()
        cached = self._cache.get(person)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        sealed = await self._vault.get(person)  # PersonErased when shredded
        if sealed is None:
            if not create:
                return None
            fresh = await self._keyring.seal(os.urandom(32), purpose=_person_key_purpose(person))
            sealed = await self._vault.add(person, fresh)
        key = await self._keyring.open(sealed, purpose=_person_key_purpose(person))
        self._remember(person, now, key)
        return key

    def _remember(self, person: UUID, now: float, key: bytes) -> None:
        self._cache[person] = (now, key)
        self._cache.move_to_end(person)
        while len(self._cache) > _CACHE_LIMIT:
            self._cache.popitem(last=False)
