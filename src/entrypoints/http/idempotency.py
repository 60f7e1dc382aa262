"""`Idempotency-Key` on writes: a retry with the same key and body gets the first answer again.

Keys are scoped by the caller's user id. The first answer is stored whatever it was (a 201 or a
409 problem) so a retry can never turn into a second, different outcome; only 5xx answers and
crashes release the key, because the write may not have happened.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request, Response

from core.shared.idempotency import Claimed, IdempotencyStore, Replay, StoredResponse
from core.shared.principal import Principal
from entrypoints.http.problems import MEDIA_TYPE, DomainProblem, domain_problem, encode

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def fingerprint(request: Request[Any, Any, Any], body: msgspec.Struct) -> str:
    """The request as decoded, so key order and whitespace do not make a different request."""
    identity = f"{request.method} {request.url.path}\n".encode() + msgspec.json.encode(body)
    return hashlib.sha256(identity).hexdigest()


async def _answer(
    run: Callable[[], Awaitable[msgspec.Struct]], status: int, instance: str
) -> StoredResponse:
    try:
        result = await run()
    except DomainProblem as failed:
        problem = domain_problem(failed.error, instance)
        return StoredResponse(status=problem.status, media_type=MEDIA_TYPE, body=encode(problem))
    return StoredResponse(
        status=status, media_type="application/json", body=msgspec.json.encode(result)
    )


def _send(stored: StoredResponse, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        content=stored.body,
        status_code=stored.status,
        media_type=stored.media_type,
        headers=headers or {},
    )


async def idempotent(
    *,
    store: IdempotencyStore,
    key: str | None,
    principal: Principal,
    request: Request[Any, Any, Any],
    body: msgspec.Struct,
    run: Callable[[], Awaitable[msgspec.Struct]],
    status: int,
) -> Response[Any]:
    """Run the request once per key; without a key, simply run it."""
    if key is None:
        return Response(content=await run(), status_code=status)
    match await store.claim(str(principal.user_id), key, fingerprint(request, body)):
        case Replay(response=stored):
            return _send(stored, {REPLAYED: "true"})
        case Claimed() as claim:
            try:
                stored = await _answer(run, status, request.url.path)
            except BaseException:
                await store.release(claim)
                raise
            await store.complete(claim, stored)
            return _send(stored)
        case refused:
            raise DomainProblem(refused)
