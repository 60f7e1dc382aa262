"""What `/health/ready` asks Redis: does it answer (docs/adr/0033)."""

from __future__ import annotations

from redis.asyncio import Redis


class RedisReadiness:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def problems(self) -> dict[str, str]:
        """Empty when Redis answers a PING; raises if it is away."""
        answered = await self._redis.ping()
        return {} if answered else {"redis": "PING got no PONG"}
