"""The relay (docs/adr/0032) on real PostgreSQL and Redis: one relay at a time across
processes, and a relay that dies loses nothing: changes committed while no relay runs wait in
the queue and the next relay publishes them, in order, to subscribers who never noticed."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from adapters.postgis import migrate
from adapters.postgis.live import PostgisLiveRelay
from adapters.redis.live import RedisLiveFeed, RedisLivePublisher
from core.bookings import LiveEvent, SlotRequest
from core.bookings.live import OfferingTopic
from core.shared.ids import UserId
from core.shared.principal import Principal, Role
from devservers.postgres import LocalDatabase, LocalPostgres
from entrypoints.container import Container, build_container
from entrypoints.settings import Settings
from live_support import court, ok
from migration_support import query

CUSTOMER = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))


@pytest.fixture
def database(postgres_server: LocalPostgres) -> LocalDatabase:
    database = postgres_server.create_database(f"relay_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    return database


@pytest.fixture
async def c(database: LocalDatabase, redis_url: str, kek_file: Path) -> AsyncIterator[Container]:
    settings = Settings(
        database_url=database.app_url, redis_url=redis_url, kek_file=kek_file, live_relay=False
    )
    container = build_container(settings)
    yield container
    await container.close()


def _queued(database: LocalDatabase) -> int:
    """Changes no relay has taken for good (read as the owner: the app role may not)."""
    rows = query(database.migrator_url, "SELECT count(*) FROM live_changes")
    return int(str(rows[0][0]))


async def _until(condition: object, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_one_relay_at_a_time_and_nothing_lost_between_them(
    c: Container, database: LocalDatabase, redis_url: str
) -> None:
    url = c.config.database_url()
    stream = f"live:test:{uuid.uuid4().hex}"  # this test's own stream on the shared Redis
    redis = Redis.from_url(redis_url)
    publisher = RedisLivePublisher(redis, stream=stream)
    feed = RedisLiveFeed(redis, stream=stream)
    first = PostgisLiveRelay(url, publisher, standby_seconds=0.2)
    second = PostgisLiveRelay(url, publisher, standby_seconds=0.2)
    offering = await court(c)
    hold = c.hold_slot()
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)

    running_first = asyncio.create_task(first.run())
    await _until(lambda: first.leading)
    running_second = asyncio.create_task(second.run())
    subscription = await feed.follow(OfferingTopic(offering), None)
    try:
        await asyncio.sleep(0.6)  # three tries of the lock
        assert not second.leading  # the lock is held: one relay at a time

        ok(await hold(CUSTOMER, SlotRequest(offering_id=offering, start=day + timedelta(hours=8))))
        heard = await asyncio.wait_for(anext(subscription), 10)
        assert isinstance(heard, LiveEvent)

        # Taken for good when the take commits, just after the publish (a relay killed before
        # that commit publishes it again: at least once).
        await _until(lambda: _queued(database) == 0)

        await _stopped(running_first)  # the relay dies (its connection, and the lock, go)
        for hour in (9, 10):  # committed while no relay runs: queued, not lost
            ok(
                await hold(
                    CUSTOMER, SlotRequest(offering_id=offering, start=day + timedelta(hours=hour))
                )
            )

        late = [await asyncio.wait_for(anext(subscription), 10) for _ in range(2)]
        assert second.leading  # took over within its standby interval
        starts = [e.change.during.start for e in late if isinstance(e, LiveEvent)]
        assert starts == [day + timedelta(hours=9), day + timedelta(hours=10)]
        assert heard.id < late[0].id < late[1].id  # type: ignore[union-attr]
    finally:
        await subscription.aclose()
        await _stopped(running_second)
        if not running_first.done():
            await _stopped(running_first)
        await feed.close()
        await redis.delete(stream)
        await redis.aclose()
