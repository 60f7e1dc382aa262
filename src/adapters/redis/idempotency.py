"""Idempotency keys in Redis: one string per (scope, key), claimed with SET NX, expiring by TTL."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

from redis.asyncio import Redis

from core.shared.idempotency import (
    Claim,
    Claimed,
    IdempotencyKeyReused,
    IdempotencyStore,
    Replay,
    RequestInFlight,
    StoredResponse,
)

ANSWER_TTL_SECONDS = 24 * 60 * 60
# A claim outlives any sane request; if its owner dies, the key frees itself after this.
CLAIM_TTL_SECONDS = 120

# Compare-and-set: only the owner of the claim (same exact pending value) may finish or drop it.
_COMPLETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return nil
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _redis_key(scope: str, key: str) -> str:
    # Hashing bounds the key length and keeps client-chosen bytes out of the key space.
    digest = hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()
    return f"reserva:idempotency:{digest}"


def _pending(claim: Claimed) -> str:
    return json.dumps(
        {"state": "pending", "fingerprint": claim.fingerprint, "token": claim.token},
        sort_keys=True,
    )


def _answered(fingerprint: str, response: StoredResponse) -> str:
    return json.dumps(
        {
            "state": "answered",
            "fingerprint": fingerprint,
            "status": response.status,
            "media_type": response.media_type,
            "body": base64.b64encode(response.body).decode("ascii"),
            "headers": dict(response.headers),
        },
        sort_keys=True,
    )


def _earlier(stored: dict[str, Any], fingerprint: str) -> Claim:
    # In flight wins: until the first request answers, "retry later" is the useful reply.
    if stored["state"] == "pending":
        return RequestInFlight()
    if stored["fingerprint"] != fingerprint:
        return IdempotencyKeyReused()
    return Replay(
        response=StoredResponse(
            status=int(stored["status"]),
            media_type=str(stored["media_type"]),
            body=base64.b64decode(stored["body"]),
            headers=stored.get("headers", {}),  # answers stored before headers were kept
        )
    )


class RedisIdempotencyStore(IdempotencyStore):
    def __init__(
        self,
        client: Redis,
        *,
        answer_ttl_seconds: int = ANSWER_TTL_SECONDS,
        claim_ttl_seconds: int = CLAIM_TTL_SECONDS,
    ) -> None:
        self._client = client
        self._answer_ttl = answer_ttl_seconds
        self._claim_ttl = claim_ttl_seconds

    async def claim(self, scope: str, key: str, fingerprint: str) -> Claim:
        claim = Claimed(scope=scope, key=key, fingerprint=fingerprint, token=secrets.token_hex(16))
        redis_key = _redis_key(scope, key)
        while True:
            if await self._client.set(redis_key, _pending(claim), nx=True, ex=self._claim_ttl):
                return claim
            stored = await self._client.get(redis_key)
            if stored is not None:
                return _earlier(json.loads(stored), fingerprint)
            # The earlier claim expired between SET and GET: try to take the key again.

    async def complete(self, claim: Claimed, response: StoredResponse) -> None:
        await self._client.eval(
            _COMPLETE,
            1,
            _redis_key(claim.scope, claim.key),
            _pending(claim),
            _answered(claim.fingerprint, response),
            str(self._answer_ttl),
        )

    async def release(self, claim: Claimed) -> None:
        await self._client.eval(_RELEASE, 1, _redis_key(claim.scope, claim.key), _pending(claim))
