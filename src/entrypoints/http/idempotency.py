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
from entrypoints.http.problems import DomainProblem, render

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def fingerprint(request: Request[Any, Any, Any], body: msgspec.Struct) -> str:
    """The request as decoded, so key order and whitespace do not make a different request."""
    identity = f"{request.method} {request.url.path}\n".encode() + msgspec.json.encode(body)
    return hashlib.sha256(identity).hexdigest()


async def _answer(
    run: Callable[[], Awaitable[msgspec.Struct]], status: int, request: Request[Any, Any, Any]
) -> StoredResponse:
    try:
        result = await run()
    except DomainProblem as failed:
        # Rendered exactly as the exception handler would, so a replay is the same answer.
        problem = render(failed.error, request.url.path, request.scope.get("user"))
        assert problem.status_code is not None  # render always sets it
        return StoredResponse(
            status=problem.status_code,
            media_type=str(problem.media_type),
            body=problem.content,
            headers={name: str(value) for name, value in problem.headers.items()},
        )
    return StoredResponse(
        status=status, media_type="application/json", body=msgspec.json.encode(result)
    )


def _send(stored: StoredResponse, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        content=stored.body,
        status_code=stored.status,
        media_type=stored.media_type,
        headers={**stored.headers, **(headers or {})},
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
                stored = await _answer(run, status, request)
            except BaseException:
                await store.release(claim)
                raise
            await store.complete(claim, stored)
            return _send(stored)
        case refused:
            raise DomainProblem(refused)
