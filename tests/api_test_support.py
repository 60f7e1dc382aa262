"""What the end-to-end HTTP tests of every context share: test tokens for principals, waiting
for what runs in the background, and checking an answer's status. Imported by bare name, like
`messaging_fake_support`."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from core.shared.ids import ProviderId, UserId
from core.shared.principal import Authenticator, Principal, Role

T = TypeVar("T")


class TokenTable(Authenticator):
    """Opaque test tokens -> principals; other tokens go to `fallback` (none: they
    authenticate nobody)."""

    def __init__(self, fallback: Authenticator | None = None) -> None:
        self._fallback = fallback
        self._principals: dict[str, Principal] = {}

    async def __call__(self, token: str) -> Principal | None:
        found = self._principals.get(token)
        if found is None and self._fallback is not None:
            return await self._fallback(token)
        return found

    def issue(self, principal: Principal) -> dict[str, str]:
        token = f"test-{uuid.uuid4().hex}"
        self._principals[token] = principal
        return {"Authorization": f"Bearer {token}"}

    def user_id(self, headers: dict[str, str]) -> str:
        return str(self._principals[headers["Authorization"].removeprefix("Bearer ")].user_id)

    def customer(self) -> dict[str, str]:
        return self.issue(Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER})))

    def admin(self) -> dict[str, str]:
        admin = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)
        return self.issue(admin)

    def staff(self, provider_id: str, *, mfa: bool = True) -> dict[str, str]:
        return self.issue(
            Principal(
                user_id=UserId(uuid.uuid4()),
                roles=frozenset({Role.STAFF}),
                provider_ids=frozenset({ProviderId(uuid.UUID(provider_id))}),
                mfa=mfa,
            )
        )


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str, *, within: float, every: float
) -> T:
    """Poll `check` every `every` seconds until it answers something truthy; its answer."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every)


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The answer's JSON (None if it has no body), once its status is `status`."""
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else None
