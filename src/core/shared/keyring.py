"""Secrets at rest: envelope encryption behind two ports (docs/adr/0011-secrets-at-rest.md).

Every sealed value has a data key of its own (AES-256-GCM), kept beside it wrapped by a
key-encryption key (KEK) that lives outside the database, in a `KeyStore`. A database dump
holds only wrapped keys and ciphertext. The `purpose` names what a value is and whose (for
example `identity.totp_secret/<user id>`); it is authenticated with the ciphertext, so a sealed
value moved to another row or field does not open.
"""

from __future__ import annotations

import struct
from typing import Protocol

import attrs

_VERSION = 1
_HEADER = struct.Struct(">BBH")  # version, KEK id length, wrapped data key length


class SealBroken(Exception):
    """A sealed value did not open: tampered with, moved to another purpose, malformed, or
    wrapped by a KEK the key store does not have. Never expected in a healthy system."""


@attrs.frozen(kw_only=True)
class Sealed:
    """A sealed value: its ciphertext, its data key wrapped by the KEK `kek_id`."""

    kek_id: str
    wrapped_key: bytes = attrs.field(repr=False)
    ciphertext: bytes = attrs.field(repr=False)

    def to_bytes(self) -> bytes:
        kek_id = self.kek_id.encode()
        header = _HEADER.pack(_VERSION, len(kek_id), len(self.wrapped_key))
        return header + kek_id + self.wrapped_key + self.ciphertext

    @classmethod
    def from_bytes(cls, blob: bytes) -> Sealed:
        if len(blob) < _HEADER.size:
            raise SealBroken("sealed value too short")
        version, id_length, key_length = _HEADER.unpack_from(blob)
        if version != _VERSION:
            raise SealBroken(f"unknown sealed-value version {version}")
        start = _HEADER.size
        kek_id, wrapped_key, ciphertext = (
            blob[start : start + id_length],
            blob[start + id_length : start + id_length + key_length],
            blob[start + id_length + key_length :],
        )
        if len(wrapped_key) != key_length or not ciphertext:
            raise SealBroken("sealed value truncated")
        return cls(kek_id=kek_id.decode(), wrapped_key=wrapped_key, ciphertext=ciphertext)


class KeyStore(Protocol):
    """Key-encryption keys by id. A KEK never leaves its store: callers hand data keys in to be
    wrapped or unwrapped, which is what a KMS (or Vault's transit engine) offers. Old KEKs stay
    able to unwrap after a rotation until the operator removes them."""

    async def active(self) -> str:
        """The id of the KEK new data keys are wrapped with."""
        ...

    async def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        """`data_key` wrapped under the active KEK, with that KEK's id."""
        ...

    async def unwrap(self, kek_id: str, wrapped_key: bytes) -> bytes:
        """The data key; SealBroken if the KEK is unknown or the wrapped key was altered."""
        ...

    async def rotate(self) -> str:
        """Create a KEK and make it the active one; the others keep unwrapping. Its id."""
        ...


class Keyring(Protocol):
    """Seals and opens secrets kept at rest (reusable by any context: identity's secrets
    today, personal data next)."""

    async def seal(self, plaintext: bytes, *, purpose: str) -> Sealed: ...

    async def open(self, sealed: Sealed, *, purpose: str) -> bytes:
        """The plaintext; SealBroken if `sealed` was not sealed for `purpose` or was altered."""
        ...

    async def rewrap(self, sealed: Sealed) -> Sealed:
        """The same value with its data key wrapped under the active KEK (the ciphertext is
        untouched); `sealed` itself if it already is."""
        ...


class SealedSecrets(Protocol):
    """Every sealed value a store keeps, for re-wrapping after a KEK rotation."""

    async def rewrap_all(self) -> int:
        """Re-wrap, in small transactions beside live traffic, every value not under the
        active KEK; returns how many were re-wrapped."""
        ...
