"""Read-your-writes marks on the session's real Redis: they only rise, and they expire."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from redis.asyncio import Redis

from adapters.redis.write_marks import RedisWriteMarks
from core.shared.ids import UserId

BEYOND_DOUBLES = 2**53 + 1  # Lua's numbers would round this: the marks compare text


@pytest_asyncio.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def someone() -> UserId:
    return UserId(uuid.uuid4())


async def test_a_mark_only_rises(redis: Redis) -> None:
    marks, person = RedisWriteMarks(redis), someone()
    assert await marks.of(person) is None

    await marks.note(person, BEYOND_DOUBLES)
    await marks.note(person, BEYOND_DOUBLES - 1)  # a slower write that committed earlier
    assert await marks.of(person) == BEYOND_DOUBLES

    await marks.note(person, BEYOND_DOUBLES + 1)
    assert await marks.of(person) == BEYOND_DOUBLES + 1
    assert await marks.of(someone()) is None


async def test_a_mark_expires_after_the_last_write(redis: Redis) -> None:
    marks, person = RedisWriteMarks(redis, ttl_seconds=0.3), someone()
    await marks.note(person, 100)
    await asyncio.sleep(0.2)
    await marks.note(person, 50)  # lower, yet a write: the mark lives on from now
    await asyncio.sleep(0.2)
    assert await marks.of(person) == 100
    await asyncio.sleep(0.25)
    assert await marks.of(person) is None
