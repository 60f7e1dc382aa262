"""Safe retries of a write: the first request with a key runs, later ones get its answer again.

Transport-neutral: a "response" is whatever bytes the entrypoint sent back, with a status, a
media type and headers, so the HTTP layer can replay it byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import attrs

from core.shared.errors import DomainError


@attrs.frozen(kw_only=True)
class StoredResponse:
    status: int
    media_type: str
    body: bytes
    headers: Mapping[str, str] = attrs.field(factory=dict)  # e.g. Retry-After of a 429


@attrs.frozen(kw_only=True)
class Claimed:
    """This caller runs the request, then must `complete` (or `release`) with this claim."""

    scope: str
    key: str
    fingerprint: str
    token: str  # proves ownership: a claim that timed out cannot overwrite its successor


@attrs.frozen(kw_only=True)
class Replay:
    """The request already ran with this key and this body: answer what it answered."""

    response: StoredResponse


@attrs.frozen
class IdempotencyKeyReused(DomainError):
    """The key was first used for a different request: a client bug, never a retry."""

    @property
    def detail(self) -> str:
        return "this Idempotency-Key was already used with a different request"


@attrs.frozen
class RequestInFlight(DomainError):
    """The first request with this key has not finished yet; retry later."""

    @property
    def detail(self) -> str:
        return "a request with this Idempotency-Key is still being processed; retry shortly"


Claim = Claimed | Replay | IdempotencyKeyReused | RequestInFlight


class IdempotencyStore(Protocol):
    """Keys are scoped (e.g. by user id) so two callers never see each other's answers."""

    async def claim(self, scope: str, key: str, fingerprint: str) -> Claim:
        """Atomically start the request for (scope, key), or report what happened before."""
        ...

    async def complete(self, claim: Claimed, response: StoredResponse) -> None:
        """Remember the answer for later replays (no-op if the claim was lost meanwhile)."""
        ...

    async def release(self, claim: Claimed) -> None:
        """Forget the claim without an answer (the request failed): a retry may run again."""
        ...
