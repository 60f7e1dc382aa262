"""Test doubles that count the expensive checks a burst of guesses reaches (shared by the unit
and integration suites): a password hasher that can hold every check until told, and a TOTP
generator that counts the codes it compares. They wrap a real implementation of the port."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import datetime

from core.identity.ports import PasswordHasher, TotpGenerator


class GatedPasswordHasher(PasswordHasher):
    """Counts the password checks (`verify` and `verify_dummy`) that reach it. While `held`,
    each check waits for `release()`: every request of a burst is then in flight at once,
    however fast the machine hashes."""

    def __init__(self, inner: PasswordHasher) -> None:
        self._inner = inner
        self._open = asyncio.Event()
        self._open.set()
        self.checks = 0
        self.progress = asyncio.Event()  # set at every check

    def hold(self) -> None:
        """Count from zero and hold every check from now on."""
        self.checks = 0
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def _checked(self) -> None:
        self.checks += 1
        self.progress.set()
        await self._open.wait()

    async def hash(self, password: str) -> str:
        return await self._inner.hash(password)

    async def verify(self, password_hash: str, password: str) -> bool:
        await self._checked()
        return await self._inner.verify(password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        await self._checked()
        await self._inner.verify_dummy(password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._inner.needs_rehash(password_hash)


class CountingTotpGenerator(TotpGenerator):
    """Counts the codes compared against a secret (`matching_step`)."""

    def __init__(self, inner: TotpGenerator) -> None:
        self._inner = inner
        self.checks = 0

    def new_secret(self) -> str:
        return self._inner.new_secret()

    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str:
        return self._inner.provisioning_uri(secret, account=account, issuer=issuer)

    def matching_step(self, secret: str, code: str, at: datetime) -> int | None:
        self.checks += 1
        return self._inner.matching_step(secret, code, at)


async def until_each_is_checked_or_answered(
    hasher: GatedPasswordHasher, requests: Collection[asyncio.Task[object]], *, base: int = 0
) -> None:
    """Wait until every request of a held burst has either reached the hasher (`checks` counted
    beyond `base`) or been answered without it."""
    for request in requests:
        request.add_done_callback(lambda _: hasher.progress.set())
    async with asyncio.timeout(60):
        while True:
            hasher.progress.clear()
            if hasher.checks - base + sum(r.done() for r in requests) >= len(requests):
                return
            await hasher.progress.wait()
