"""Envelope encryption with AES-256-GCM, and key-encryption keys kept in a file.

`AesGcmKeyring` gives every sealed value a fresh 256-bit data key, so a random 96-bit nonce
never repeats under one key; the purpose is the associated data. The data key is wrapped by a
`KeyStore`. `FileKeyStore` is the development and single-host store: a JSON file outside the
database, mode 0600, `{"active": id, "keys": {id: base64 key}}`. A KMS plugs in as another
`KeyStore` (docs/adr/0011-secrets-at-rest.md).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.shared.keyring import Keyring, KeyStore, SealBroken, Sealed

_NONCE = 12
_KEY_BYTES = 32
_WRAP_CONTEXT = b"reserva/data-key/v1/"


def _encrypt(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def _decrypt(key: bytes, box: bytes, context: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(box[:_NONCE], box[_NONCE:], context)
    except (InvalidTag, ValueError):
        raise SealBroken("sealed value did not authenticate") from None


class AesGcmKeyring(Keyring):
    def __init__(self, store: KeyStore) -> None:
        self._store = store

    @property
    def store(self) -> KeyStore:
        return self._store

    async def seal(self, plaintext: bytes, *, purpose: str) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        kek_id, wrapped_key = await self._store.wrap(data_key)
        ciphertext = _encrypt(data_key, plaintext, purpose.encode())
        return Sealed(kek_id=kek_id, wrapped_key=wrapped_key, ciphertext=ciphertext)

    async def open(self, sealed: Sealed, *, purpose: str) -> bytes:
        data_key = await self._store.unwrap(sealed.kek_id, sealed.wrapped_key)
        return _decrypt(data_key, sealed.ciphertext, purpose.encode())

    async def rewrap(self, sealed: Sealed) -> Sealed:
        if sealed.kek_id == await self._store.active():
            return sealed
        data_key = await self._store.unwrap(sealed.kek_id, sealed.wrapped_key)
        kek_id, wrapped_key = await self._store.wrap(data_key)
        return Sealed(kek_id=kek_id, wrapped_key=wrapped_key, ciphertext=sealed.ciphertext)


def new_kek_id() -> str:
    return f"kek-{secrets.token_hex(6)}"


class KeyFileError(Exception):
    """The key file is missing, unreadable, or not a key file; the message says which."""


class FileKeyStore(KeyStore):
    """KEKs in a JSON file. The file is re-read whenever it changes on disk, so a rotation by
    `reserva keys rotate-kek` reaches running servers without a restart; a KEK stays usable
    for unwrapping until its entry is deleted from the file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._active = ""
        self._keys: dict[str, bytes] = {}
        self._reload()

    @staticmethod
    def create(path: Path) -> None:
        """Write a key file with one fresh KEK unless the file exists (0600, parents made)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        kek_id = new_kek_id()
        staging = _staging(path)
        _write_new(staging, kek_id, {kek_id: AESGCM.generate_key(bit_length=256)})
        try:
            os.link(staging, path)  # atomic, and refused if another process made one first
        except FileExistsError:
            pass
        finally:
            staging.unlink()

    async def active(self) -> str:
        self._reload()
        return self._active

    async def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        kek_id = await self.active()
        return kek_id, _encrypt(self._keys[kek_id], data_key, _WRAP_CONTEXT + kek_id.encode())

    async def unwrap(self, kek_id: str, wrapped_key: bytes) -> bytes:
        self._reload()
        kek = self._keys.get(kek_id)
        if kek is None:
            raise SealBroken(f"no key-encryption key {kek_id!r} in {self._path}")
        return _decrypt(kek, wrapped_key, _WRAP_CONTEXT + kek_id.encode())

    async def rotate(self) -> str:
        self._reload()
        kek_id = new_kek_id()
        keys = {**self._keys, kek_id: AESGCM.generate_key(bit_length=256)}
        staging = _staging(self._path)
        _write_new(staging, kek_id, keys)
        staging.replace(self._path)  # atomic: readers see the old file or the new one
        self._reload()
        return kek_id

    def _reload(self) -> None:
        try:
            status = self._path.stat()
        except OSError as error:
            raise KeyFileError(f"cannot read the key file {self._path}: {error}") from None
        stamp = (status.st_ino, status.st_mtime_ns)
        if stamp == self._stamp:
            return
        try:
            content = json.loads(self._path.read_text())
            keys = {k: base64.b64decode(v, validate=True) for k, v in content["keys"].items()}
            active = content["active"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise KeyFileError(f"{self._path} is not a key file: {error}") from None
        if active not in keys or any(len(k) != _KEY_BYTES for k in keys.values()):
            raise KeyFileError(f"{self._path}: the active key is missing or a key is not 256 bits")
        self._active, self._keys, self._stamp = active, keys, stamp


def _staging(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}")


def _write_new(path: Path, active: str, keys: dict[str, bytes]) -> None:
    """Create `path` readable by its owner only, before any key byte is written to it."""
    content = {"active": active, "keys": {k: base64.b64encode(v).decode() for k, v in keys.items()}}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(content, file, indent=2)
