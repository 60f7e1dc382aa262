"""An in-memory keyring: the `Keyring` and `KeyStore` ports in one fake, standard library only.

It keeps the contracts (a sealed value opens only for its purpose, hides its plaintext, names
its KEK, survives rotation and re-wrapping) with a toy cipher: SHAKE-256 as a key stream and
HMAC-SHA-256 as the tag. Never use it outside tests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from core.shared.keyring import Keyring, KeyStore, SealBroken, Sealed

_TAG = 16


def _xor(data: bytes, key: bytes, nonce: bytes) -> bytes:
    stream = hashlib.shake_256(key + nonce).digest(len(data))
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def _box(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = secrets.token_bytes(16)
    body = nonce + _xor(plaintext, key, nonce)
    return body + hmac.new(key, context + body, hashlib.sha256).digest()[:_TAG]


def _unbox(key: bytes, box: bytes, context: bytes) -> bytes:
    body, tag = box[:-_TAG], box[-_TAG:]
    if not hmac.compare_digest(tag, hmac.new(key, context + body, hashlib.sha256).digest()[:_TAG]):
        raise SealBroken("sealed value did not authenticate")
    return _xor(body[16:], key, body[:16])


class MemoryKeyring(Keyring, KeyStore):
    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._active = ""
        self._rotate()

    @property
    def kek_ids(self) -> list[str]:
        """Every KEK made so far, oldest first."""
        return list(self._keys)

    async def seal(self, plaintext: bytes, *, purpose: str) -> Sealed:
        data_key = secrets.token_bytes(32)
        kek_id, wrapped_key = await self.wrap(data_key)
        ciphertext = _box(data_key, plaintext, purpose.encode())
        return Sealed(kek_id=kek_id, wrapped_key=wrapped_key, ciphertext=ciphertext)

    async def open(self, sealed: Sealed, *, purpose: str) -> bytes:
        data_key = await self.unwrap(sealed.kek_id, sealed.wrapped_key)
        return _unbox(data_key, sealed.ciphertext, purpose.encode())

    async def rewrap(self, sealed: Sealed) -> Sealed:
        if sealed.kek_id == self._active:
            return sealed
        data_key = await self.unwrap(sealed.kek_id, sealed.wrapped_key)
        kek_id, wrapped_key = await self.wrap(data_key)
        return Sealed(kek_id=kek_id, wrapped_key=wrapped_key, ciphertext=sealed.ciphertext)

    async def active(self) -> str:
        return self._active

    async def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        return self._active, _box(self._keys[self._active], data_key, self._active.encode())

    async def unwrap(self, kek_id: str, wrapped_key: bytes) -> bytes:
        if kek_id not in self._keys:
            raise SealBroken(f"no key-encryption key {kek_id!r}")
        return _unbox(self._keys[kek_id], wrapped_key, kek_id.encode())

    async def rotate(self) -> str:
        return self._rotate()

    def _rotate(self) -> str:
        self._active = f"memory-kek-{len(self._keys) + 1}"
        self._keys[self._active] = secrets.token_bytes(32)
        return self._active
