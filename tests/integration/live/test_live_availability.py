"""Live availability (issue 12 §1) through real servers: two API processes (tests/api_process.py)
on one PostgreSQL and one Redis, subscribers over SSE and WebSocket, changes made over HTTP on
either process and by the expiry sweep of a third (this test process's container).

Each change travels: the booking's transaction -> migration 0023's trigger -> the relay (one of
the two processes holds its lock) -> the Redis stream -> every process's reader -> subscribers.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets
from dependency_injector import providers
from websockets.asyncio.client import ClientConnection, connect

from adapters.memory.clock import FixedClock
from adapters.postgis import migrate
from devservers.postgres import LocalDatabase, LocalPostgres
from entrypoints.container import Container, build_container
from entrypoints.settings import Settings
from live_support import court
from migration_support import catalog, declared_catalog, query
from process_support import wait_until_answering

WAIT = 10.0  # seconds any one event may take here (the benchmark measures the real lag)
TESTS = Path(__file__).resolve().parents[2]
Api = dict[str, Any]


# ---------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def database(postgres_server: LocalPostgres) -> LocalDatabase:
    database = postgres_server.create_database(f"live_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    return database


@pytest.fixture(scope="module")
def database_url(database: LocalDatabase) -> str:
    return database.app_url


def _start(database_url: str, redis_url: str, kek_file: Path) -> subprocess.Popen[str]:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)])}
    command = [sys.executable, str(TESTS / "api_process.py"), database_url, redis_url]
    return subprocess.Popen([*command, str(kek_file)], env=env, stdout=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def apis(database_url: str, redis_url: str, kek_file: Path) -> Iterator[tuple[Api, Api]]:
    """Two API processes, started together: (A, B), each {url, customer header}."""
    servers = [_start(database_url, redis_url, kek_file) for _ in range(2)]
    try:
        announced = []
        for server in servers:
            assert server.stdout is not None
            announced.append(json.loads(server.stdout.readline()))
        for api in announced:
            wait_until_answering(f"{api['url']}/providers")
        yield announced[0], announced[1]
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=30)
            finally:
                server.kill()


@pytest.fixture
async def c(database_url: str, redis_url: str, kek_file: Path) -> AsyncIterator[Container]:
    """A third process's container (this one): the catalog, and the expiry sweep."""
    container = build_container(
        Settings(
            database_url=database_url, redis_url=redis_url, kek_file=kek_file, live_relay=False
        )
    )
    yield container
    await container.close()


def _slot(days: int, hour: int) -> datetime:
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=days, hours=hour)


async def _post(api: Api, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=api["url"], timeout=30) as http:
        answer = await http.post(path, json=body, headers=api["customer"])
    assert answer.status_code in (200, 201), answer.text
    return answer.json()  # type: ignore[no-any-return]


async def _hold(api: Api, offering: uuid.UUID, start: datetime) -> dict[str, Any]:
    return await _post(api, "/bookings", {"offering_id": str(offering), "start": start.isoformat()})


# ---------------------------------------------------------------- subscribers


class Sse:
    """An SSE subscription read in the background: `events` fills as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        fields: dict[str, str] = {}
        async for line in self.response.aiter_lines():
            if line == "":
                if fields.get("data"):
                    data = json.loads(fields["data"])
                    await self.events.put(
                        {
                            "event": fields.get("event", "message"),
                            "sse_id": fields.get("id"),
                            **data,
                        }
                    )
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), WAIT)

    async def close(self) -> None:
        self._task.cancel()
        await self.response.aclose()


async def _sse(
    api: Api, path: str, headers: dict[str, str] | None = None
) -> tuple[httpx.AsyncClient, httpx.Response]:
    http = httpx.AsyncClient(base_url=api["url"], timeout=httpx.Timeout(30, read=None))
    request = http.build_request("GET", path, headers=headers or {})
    return http, await http.send(request, stream=True)


async def _subscribed(
    api: Api, path: str, headers: dict[str, str] | None = None
) -> tuple[httpx.AsyncClient, Sse]:
    http, response = await _sse(api, path, headers)
    assert response.status_code == 200, await response.aread()
    assert response.headers["content-type"].startswith("text/event-stream")
    # httpx asks for gzip/br: a stream is never compressed (a compressor per connection).
    assert "content-encoding" not in response.headers
    return http, Sse(response)


async def _ws_next(socket: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket.recv(), WAIT))  # type: ignore[no-any-return]


def _ws_url(api: Api, path: str) -> str:
    return api["url"].replace("http://", "ws://") + path


def _position(event: dict[str, Any]) -> tuple[int, int]:
    """An event id ("ms-seq") as the stream orders them."""
    ms, _, seq = event["sse_id"].partition("-")
    return int(ms), int(seq)


async def _settled() -> None:
    """Subscriptions are registered when the stream is open; a moment for the server side."""
    await asyncio.sleep(0.3)


# ---------------------------------------------------------------- tests


async def test_a_hold_on_one_process_reaches_sse_and_websocket_subscribers_on_both(
    apis: tuple[Api, Api], c: Container
) -> None:
    a, b = apis
    offering = await court(c)
    http, on_a = await _subscribed(a, f"/live/offerings/{offering}")
    async with (
        connect(_ws_url(b, f"/live/offerings/{offering}/ws")) as on_b,
        connect(_ws_url(a, "/live/area/ws?lat=51.5&lng=-0.1&radius_m=1000")) as area_on_a,
    ):
        await _settled()
        start = _slot(2, 9)
        held = await _hold(b, offering, start)

        for event in (await on_a.next(), await _ws_next(on_b), await _ws_next(area_on_a)):
            assert event["kind"] == "held"
            assert event["offering_id"] == str(offering)
            assert datetime.fromisoformat(event["start"]) == start
            assert not {"booking_id", "customer_id", "status"} & event.keys()  # public: no person
        assert held["status"] == "held"
    await on_a.close()
    await http.aclose()


async def test_cancel_and_reschedule_are_heard_across_processes(
    apis: tuple[Api, Api], c: Container
) -> None:
    a, b = apis
    offering = await court(c)
    held = await _hold(a, offering, _slot(2, 10))
    async with connect(_ws_url(b, f"/live/offerings/{offering}/ws")) as on_b:
        await _settled()
        moved = await _post(
            a,
            f"/bookings/{held['id']}/reschedule",
            {"offering_id": str(offering), "start": _slot(2, 12).isoformat()},
        )
        first, second = await _ws_next(on_b), await _ws_next(on_b)
        assert {first["kind"], second["kind"]} == {"rescheduled", "held"}
        by_kind = {first["kind"]: first, second["kind"]: second}
        assert datetime.fromisoformat(by_kind["rescheduled"]["start"]) == _slot(2, 10)
        assert datetime.fromisoformat(by_kind["held"]["start"]) == _slot(2, 12)

        await _post(a, f"/bookings/{moved['id']}/cancel")
        cancelled = await _ws_next(on_b)
        assert cancelled["kind"] == "cancelled"
        assert datetime.fromisoformat(cancelled["start"]) == _slot(2, 12)


async def test_the_expiry_sweep_emits_expired(apis: tuple[Api, Api], c: Container) -> None:
    a, b = apis
    offering = await court(c)
    await _hold(a, offering, _slot(3, 9))
    http, on_b = await _subscribed(b, f"/live/offerings/{offering}")
    await _settled()

    c.clock.override(providers.Object(FixedClock(datetime.now(UTC) + timedelta(days=1))))
    assert await c.expire_holds()() >= 1  # the periodic job's use case, in a third process

    expired = await on_b.next()
    assert expired["kind"] == "expired"
    assert datetime.fromisoformat(expired["start"]) == _slot(3, 9)
    await on_b.close()
    await http.aclose()


async def test_reconnecting_with_last_event_id_replays_what_was_missed(
    apis: tuple[Api, Api], c: Container
) -> None:
    a, b = apis
    offering = await court(c)
    http, first = await _subscribed(a, f"/live/offerings/{offering}")
    await _settled()
    await _hold(b, offering, _slot(4, 8))
    seen = await first.next()
    await first.close()  # the client goes away; two changes happen meanwhile
    await _hold(b, offering, _slot(4, 9))
    await _hold(b, offering, _slot(4, 10))

    # On the other process, as a load balancer may send the reconnection.
    http2, again = await _subscribed(
        b, f"/live/offerings/{offering}", {"Last-Event-ID": seen["sse_id"]}
    )
    replayed = [await again.next(), await again.next()]
    assert [datetime.fromisoformat(e["start"]) for e in replayed] == [_slot(4, 9), _slot(4, 10)]
    assert _position(seen) < _position(replayed[0]) < _position(replayed[1])
    await _hold(a, offering, _slot(4, 11))  # and then live again
    assert datetime.fromisoformat((await again.next())["start"]) == _slot(4, 11)

    # WebSocket clients name it in the query (browsers cannot set headers on a socket).
    query = f"?last_event_id={seen['sse_id']}"
    async with connect(_ws_url(a, f"/live/offerings/{offering}/ws{query}")) as socket:
        starts = [datetime.fromisoformat((await _ws_next(socket))["start"]) for _ in range(3)]
    assert starts == [_slot(4, 9), _slot(4, 10), _slot(4, 11)]
    for closing in (again.close(), http.aclose(), http2.aclose()):
        await closing


async def test_an_id_older_than_the_history_asks_the_client_to_resync(
    apis: tuple[Api, Api], c: Container
) -> None:
    a, _ = apis
    offering = await court(c)
    async with connect(
        _ws_url(a, f"/live/offerings/{offering}/ws?last_event_id=99999999999999-0")
    ) as socket:
        resync = await _ws_next(socket)
    assert resync["type"] == "resync"  # an id the stream never reached: read availability again


async def test_my_bookings_need_a_token_and_show_only_mine(
    apis: tuple[Api, Api], c: Container
) -> None:
    a, b = apis
    offering = await court(c)
    http, response = await _sse(a, "/me/live")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    await response.aclose()
    with pytest.raises(websockets.InvalidStatus):
        async with connect(_ws_url(a, "/me/live/ws")):
            pass

    http2, mine = await _subscribed(a, "/me/live", a["customer"])
    async with connect(_ws_url(a, "/me/live/ws"), additional_headers=a["customer"]) as socket:
        await _settled()
        await _hold(b, offering, _slot(5, 8))  # someone else's booking (B's customer)
        held = await _hold(a, offering, _slot(5, 9))  # mine
        for event in (await mine.next(), await _ws_next(socket)):
            assert event["booking_id"] == held["id"]
            assert event["status"] == "held"
            assert datetime.fromisoformat(event["start"]) == _slot(5, 9)
    await mine.close()
    await http.aclose()
    await http2.aclose()


async def test_bad_input_is_refused_clearly(apis: tuple[Api, Api]) -> None:
    a, _ = apis
    unknown = uuid.uuid4()
    async with httpx.AsyncClient(base_url=a["url"], timeout=30) as http:
        missing = await http.get(f"/live/offerings/{unknown}")
        bad_id = await http.get(
            "/live/area?lat=51&lng=0&radius_m=100", headers={"Last-Event-ID": "yesterday"}
        )
        too_wide = await http.get("/live/area?lat=51&lng=0&radius_m=900000")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert str(unknown) in missing.json()["detail"]
    assert bad_id.status_code == 422
    assert bad_id.json()["errors"][0]["field"] == "Last-Event-ID"
    assert too_wide.status_code in (400, 422)

    async with connect(_ws_url(a, f"/live/offerings/{unknown}/ws")) as socket:
        with pytest.raises(websockets.ConnectionClosed):
            await socket.recv()
    assert socket.close_code == 4404
    assert str(unknown) in (socket.close_reason or "")
    async with connect(
        _ws_url(a, "/live/area/ws?lat=51&lng=0&radius_m=100&last_event_id=x")
    ) as socket:
        with pytest.raises(websockets.ConnectionClosed):
            await socket.recv()
    assert socket.close_code == 4422


def test_the_queue_is_as_declared_and_the_app_role_reads_none_of_it(
    database: LocalDatabase, postgres_server: LocalPostgres
) -> None:
    declared = declared_catalog(postgres_server, ["live_changes"])
    assert catalog(database.migrator_url, ["live_changes"]) == declared
    # Row-level security with no policy: the relay takes rows only through the function.
    for statement in ("SELECT * FROM live_changes", "DELETE FROM live_changes"):
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            query(database.app_url, statement)
