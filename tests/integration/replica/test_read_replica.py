"""Search and availability on a real streaming replica, with read-your-writes (ADR 34).

Once per module: a private primary, a database migrated on it, and a hot standby made from it
with pg_basebackup; the app is the production container over both (and the session's Redis),
through HTTP. Replay is paused to make the replica visibly behind: what the primary has and
the replica has not yet applied tells which server answered a read.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from dependency_injector import providers
from litestar.testing import AsyncTestClient
from pydantic import ValidationError
from redis.asyncio import Redis

from adapters.memory.clock import FixedClock
from adapters.postgis.database import create_engine
from adapters.postgis.one_trip import one_trip
from adapters.postgis.replica import ReplicaReads, reading_as
from adapters.postgis.write_marks import mark_writes
from adapters.redis.write_marks import RedisWriteMarks
from api_test_support import TokenTable, ok
from core.shared.ids import UserId
from core.shared.unit_of_work import PUBLIC, Access
from devservers.net import free_port
from devservers.postgres import LocalDatabase, LocalPostgres, LocalPostgresError
from devservers.replica import LocalReplica
from entrypoints.container import Container, build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from postgres_support import migrated_database

DATABASE = "reserva_replica"
Client = httpx.AsyncClient


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LocalReplica, LocalDatabase]]:
    """The replica (its `primary` beside it) and the primary's migrated database."""
    workdir = Path(tempfile.mkdtemp(prefix="reserva-replica-"))
    primary = LocalPostgres(workdir / "primary", free_port(), durable=False)
    replica = LocalReplica(primary, workdir / "replica", free_port())
    try:
        primary.ensure_running()
        database = migrated_database(primary, DATABASE)
        replica.ensure_running()
        yield replica, database
    finally:
        replica.stop()
        primary.stop()
        shutil.rmtree(workdir)


@pytest.fixture
def replica(servers: tuple[LocalReplica, LocalDatabase]) -> Iterator[LocalReplica]:
    """The replica, caught up with the primary; replay runs again after the test."""
    replica = servers[0]
    replica.wait_for_primary()
    yield replica
    replica.resume_replay()


@pytest.fixture(scope="module")
def tokens() -> TokenTable:
    return TokenTable()


@pytest.fixture(scope="module")
def container(
    servers: tuple[LocalReplica, LocalDatabase], redis_url: str, kek_file: Path, tokens: TokenTable
) -> Iterator[Container]:
    replica, database = servers
    settings = Settings(
        database_url=database.app_url,
        database_replica_url=replica.database(DATABASE).app_url,
        redis_url=redis_url,
        kek_file=kek_file,
    )
    container = build_container(settings)
    container.authenticator.override(providers.Object(tokens))
    container.clock.override(providers.Object(FixedClock(datetime.now(UTC).replace(microsecond=0))))
    yield container
    container.reset_override()


@pytest_asyncio.fixture(scope="module")
async def client(container: Container) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(http_services(container))) as client:
        yield client


@pytest.fixture
def reads(container: Container) -> ReplicaReads:
    routed = container.replica_reads()
    assert isinstance(routed, ReplicaReads)
    return routed


# ---------------------------------------------------------------- a shop, over HTTP


async def created(client: Client, path: str, body: Any, who: dict[str, str]) -> Any:
    return ok(await client.post(path, json=body, headers=who), 201)


async def court(client: Client, tokens: TokenTable) -> tuple[dict[str, Any], dict[str, str]]:
    """An hour-long appointment on one court, open around the clock, somewhere random on
    Earth (searches of one test never see another's); and its staff's credentials."""
    lat, lng = round(random.uniform(-60, 60), 4), round(random.uniform(-170, 170), 4)
    provider = await created(client, "/providers", {"name": "Club"}, tokens.admin())
    address = {"line1": "1 Main St", "city": "Madrid", "postal_code": "28001", "country": "ES"}
    place_body = {"name": "Centre", "address": address, "lat": lat, "lng": lng,
                  "timezone": "Europe/Madrid"}  # fmt: skip
    place = await created(client, f"/providers/{provider['id']}/places", place_body,
                          tokens.admin())  # fmt: skip
    staff = tokens.staff(provider["id"])
    all_day = [{"weekday": d, "opens": "00:00", "closes": "24:00"} for d in range(7)]
    ok(await client.put(f"/places/{place['id']}/hours", json={"weekly": all_day}, headers=staff))
    offering = await appointment(client, place["id"], staff)
    return offering | {"lat": lat, "lng": lng, "place_id": place["id"]}, staff


async def appointment(client: Client, place_id: str, staff: dict[str, str]) -> dict[str, Any]:
    resource = await created(client, f"/places/{place_id}/resources", {"name": "Court"}, staff)
    body = {"kind": "appointment", "name": "Court hire", "category": "Tennis",
            "price": {"amount_minor": 2050, "currency": "EUR"}, "duration_minutes": 60,
            "resource_ids": [resource["id"]]}  # fmt: skip
    offering: dict[str, Any] = await created(client, f"/places/{place_id}/offerings", body, staff)
    return offering


def hour(container: Container, n: int) -> datetime:
    """The start of the n-th whole hour two days from the test clock's now."""
    now = container.clock().now().replace(minute=0, second=0, microsecond=0)
    return now + timedelta(days=2, hours=n)


async def hold(
    client: Client, offering: dict[str, Any], start: datetime, who: dict[str, str]
) -> dict[str, Any]:
    body = {"offering_id": offering["id"], "start": start.isoformat()}
    held: dict[str, Any] = await created(client, "/bookings", body, who)
    return held


async def free_starts(
    client: Client, offering: dict[str, Any], container: Container, who: dict[str, str] | None
) -> set[datetime]:
    """The slot starts of the offering's first hours, as `who` (None: anonymous) sees them."""
    window = {"from": hour(container, 0).isoformat(), "to": hour(container, 6).isoformat()}
    response = await client.get(
        f"/offerings/{offering['id']}/availability", params=window, headers=who or {}
    )
    return {datetime.fromisoformat(slot["start"]) for slot in ok(response)["slots"]}


async def found(
    client: Client, place: dict[str, Any], container: Container, who: dict[str, str] | None
) -> set[str]:
    """The ids of offerings with a free slot near the place, as `who` sees them."""
    query = {"lat": place["lat"], "lng": place["lng"], "radius_m": 1000,
             "free_from": hour(container, 0).isoformat(),
             "free_to": hour(container, 6).isoformat()}  # fmt: skip
    response = await client.get("/search", params=query, headers=who or {})
    return {item["offering"]["id"] for item in ok(response)["items"]}


# ---------------------------------------------------------------- the tests


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_the_replica_is_a_read_only_standby_of_the_primary(
    servers: tuple[LocalReplica, LocalDatabase],
) -> None:
    replica, _ = servers
    database = replica.database(DATABASE)
    with psycopg.connect(_libpq(database.superuser_url)) as conn:
        receiver = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
        assert receiver == ("streaming",)
    with psycopg.connect(_libpq(database.app_url)) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TEMP TABLE scratch (id int)")
    with pytest.raises(LocalPostgresError, match="read-only"):
        replica.create_database("elsewhere")


async def test_anonymous_readers_see_the_replica_and_the_writer_their_own_hold(
    client: Client,
    container: Container,
    tokens: TokenTable,
    replica: LocalReplica,
    reads: ReplicaReads,
) -> None:
    offering, _ = await court(client, tokens)
    slot = hour(container, 1)
    replica.wait_for_primary()
    replica.pause_replay()

    customer, other = tokens.customer(), tokens.customer()
    await hold(client, offering, slot, customer)
    served = dict(reads.served)

    assert slot in await free_starts(client, offering, container, None)  # the replica's view
    assert slot in await free_starts(client, offering, container, other)  # wrote nothing
    bogus = {"Authorization": "Bearer not-a-token"}  # public: read for nobody, not refused
    assert slot in await free_starts(client, offering, container, bogus)
    assert reads.served["replica"] == served["replica"] + 3
    assert slot not in await free_starts(client, offering, container, customer)  # their write
    assert reads.served["primary"] == served["primary"] + 1

    replica.resume_replay()
    replica.wait_for_primary()
    assert slot not in await free_starts(client, offering, container, None)


async def test_a_writer_reads_the_replica_again_once_it_has_replayed_their_write(
    client: Client,
    container: Container,
    tokens: TokenTable,
    replica: LocalReplica,
    reads: ReplicaReads,
) -> None:
    offering, _ = await court(client, tokens)
    mine, theirs = hour(container, 1), hour(container, 2)
    customer = tokens.customer()
    await hold(client, offering, mine, customer)
    replica.wait_for_primary()
    replica.pause_replay()

    await hold(client, offering, theirs, tokens.customer())
    served = reads.served["replica"]
    seen = await free_starts(client, offering, container, customer)

    assert mine not in seen  # their own hold, replayed
    assert theirs in seen  # someone else's, not yet: the replica answered
    assert reads.served["replica"] == served + 1


async def test_search_for_free_slots_routes_the_same_way_after_a_catalog_change(
    client: Client,
    container: Container,
    tokens: TokenTable,
    replica: LocalReplica,
) -> None:
    """A unit of work's commit (a new offering) marks its writer as a one-trip hold does."""
    first, staff = await court(client, tokens)
    replica.wait_for_primary()
    replica.pause_replay()

    added = await appointment(client, first["place_id"], staff)

    assert await found(client, first, container, None) == {first["id"]}
    assert await found(client, first, container, staff) == {first["id"], added["id"]}


async def test_the_public_catalog_is_read_on_the_replica_except_by_its_editor(
    client: Client,
    container: Container,
    tokens: TokenTable,
    replica: LocalReplica,
    reads: ReplicaReads,
) -> None:
    """A read-only use case's unit of work (GetCatalog) routes as the one-trip reads do."""
    first, staff = await court(client, tokens)
    catalog = f"/providers/{first['provider_id']}"
    replica.wait_for_primary()
    replica.pause_replay()

    added = await appointment(client, first["place_id"], staff)
    served = dict(reads.served)

    anonymous = ok(await client.get(catalog))
    edited = ok(await client.get(catalog, headers=staff))

    assert {o["id"] for o in anonymous["offerings"]} == {first["id"]}
    assert {o["id"] for o in edited["offerings"]} == {first["id"], added["id"]}
    assert reads.served == {"replica": served["replica"] + 1, "primary": served["primary"] + 1}


async def test_reads_fall_back_to_the_primary_while_the_replica_is_down(
    client: Client,
    container: Container,
    tokens: TokenTable,
    replica: LocalReplica,
    reads: ReplicaReads,
) -> None:
    offering, _ = await court(client, tokens)
    slot = hour(container, 3)
    replica.wait_for_primary()
    assert slot in await free_starts(client, offering, container, None)  # pools a connection
    replica.stop()
    try:
        await hold(client, offering, slot, tokens.customer())
        served = reads.served["primary"]
        assert slot not in await free_starts(client, offering, container, None)
        assert ok(await client.get(f"/providers/{offering['provider_id']}"))["offerings"]
        assert reads.served["primary"] >= served + 2
    finally:
        replica.ensure_running()


async def test_an_unreachable_redis_fails_no_write_and_sends_the_writer_to_the_primary(
    servers: tuple[LocalReplica, LocalDatabase], replica: LocalReplica
) -> None:
    """Which server answered, asked on the connection that answered."""
    database = servers[1]
    unreachable = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    marks = RedisWriteMarks(unreachable)
    primary = mark_writes(create_engine(database.app_url, pool_size=1), marks)
    standby = create_engine(replica.database(DATABASE).app_url, pool_size=1)
    reads = ReplicaReads(primary, standby, marks)
    writer = Access.user(UserId(uuid.uuid4()))
    which = [("SELECT pg_is_in_recovery() AS standby", {})]
    try:
        await one_trip(primary, writer, which, end="commit")  # the mark is lost, not the write

        with reading_as(writer.user_id):
            assert await reads.read(PUBLIC, which) == [[{"standby": False}]]
        assert await reads.read(PUBLIC, which) == [[{"standby": True}]]  # for nobody
    finally:
        await unreachable.aclose()
        await primary.dispose()
        await standby.dispose()


# ---------------------------------------------------------------- settings


def test_without_a_replica_url_everything_stays_on_the_primary(
    redis_url: str, kek_file: Path
) -> None:
    settings = Settings(database_url="postgresql+psycopg://app@127.0.0.1:1/db",
                        redis_url=redis_url, kek_file=kek_file)  # fmt: skip
    container = build_container(settings)
    assert container.replica_reads() is None
    assert container.write_marks() is None
    assert http_services(container).reading_as is None


def test_a_replica_url_that_is_not_postgresql_psycopg_is_refused(kek_file: Path) -> None:
    with pytest.raises(ValidationError, match="database_replica_url"):
        Settings(database_url="postgresql+psycopg://app@127.0.0.1:1/db",
                 database_replica_url="mysql://app@127.0.0.1/db",
                 redis_url="redis://127.0.0.1:1/0", kek_file=kek_file)  # fmt: skip
