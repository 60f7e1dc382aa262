"""Argon2id password hashing (argon2-cffi), run in a worker thread so the event loop never
stalls on the deliberately slow hash (argon2-cffi releases the GIL while hashing)."""

from __future__ import annotations

import asyncio
import secrets

import argon2
import attrs

from core.identity.ports import PasswordHasher


@attrs.frozen(kw_only=True)
class Argon2Params:
    """Defaults are OWASP's minimum for Argon2id: 19 MiB, 2 iterations, 1 lane.

    Raise them as far as login latency allows; existing hashes are upgraded at the next login.
    Tests lower them through configuration (never below what argon2 itself accepts).
    """

    memory_cost_kib: int = 19_456
    time_cost: int = 2
    parallelism: int = 1


class Argon2PasswordHasher(PasswordHasher):
    def __init__(self, params: Argon2Params | None = None) -> None:
        p = params or Argon2Params()
        self._hasher = argon2.PasswordHasher(
            time_cost=p.time_cost,
            memory_cost=p.memory_cost_kib,
            parallelism=p.parallelism,
            type=argon2.Type.ID,
        )
        # Hash of a random password nobody knows, with the current parameters.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        await asyncio.to_thread(self._verify, self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False
