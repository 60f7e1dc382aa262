"""AES-256-GCM sealing under a key derived (HKDF-SHA-256) from a high-entropy secret.

Used to keep a refresh-token family's newest raw token recoverable only by whoever presents
its parent during the grace window. A random salt per seal gives every seal its own key, so
the random nonce can never repeat under one key.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.identity.ports import TokenSealer

_SALT = 16
_NONCE = 12
_INFO = b"reserva/refresh-token-child-seal/v1"


def _key(secret: str, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(secret.encode())


class AesGcmTokenSealer(TokenSealer):
    def seal(self, secret: str, plaintext: str) -> bytes:
        salt, nonce = os.urandom(_SALT), os.urandom(_NONCE)
        return salt + nonce + AESGCM(_key(secret, salt)).encrypt(nonce, plaintext.encode(), _INFO)

    def open(self, secret: str, sealed: bytes) -> str | None:
        salt, nonce, body = sealed[:_SALT], sealed[_SALT : _SALT + _NONCE], sealed[_SALT + _NONCE :]
        if len(salt) != _SALT or len(nonce) != _NONCE:
            return None
        try:
            return AESGCM(_key(secret, salt)).decrypt(nonce, body, _INFO).decode()
        except InvalidTag:
            return None
