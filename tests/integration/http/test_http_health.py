"""/health/live and /health/ready against a database of this module's own (docs/adr/0033): not
ready without a job worker, ready with one, not ready when the schema is behind the code or
Redis is away; each failure a 503 problem naming what failed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from adapters.postgis import migrate
from adapters.postgis.health import code_revision
from devservers.net import free_port
from devservers.postgres import LocalDatabase, LocalPostgres
from entrypoints.container import Container, build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from entrypoints.worker import start_in_process_worker

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def database(postgres_server: LocalPostgres) -> LocalDatabase:
    """Migrated, and never seen by a job worker."""
    database = postgres_server.create_database("reserva_health")
    migrate.upgrade(database.migrator_url)
    return database


def _container(database: LocalDatabase, redis_url: str, kek_file: Path) -> Container:
    return build_container(
        Settings(database_url=database.app_url, redis_url=redis_url, kek_file=kek_file)
    )


@pytest_asyncio.fixture
async def container(
    database: LocalDatabase, redis_url: str, kek_file: Path
) -> AsyncIterator[Container]:
    container = _container(database, redis_url, kek_file)
    yield container
    await container.close()


async def _ready(container: Container) -> httpx.Response:
    async with AsyncTestClient(app=create_app(http_services(container))) as client:
        return await client.get("/health/ready")


def _unready(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert answer.headers["retry-after"]
    body: dict[str, Any] = answer.json()
    return body


async def test_the_process_is_live_whatever_its_dependencies_say(kek_file: Path) -> None:
    """Nothing listens where the database and Redis should be."""
    nowhere = build_container(
        Settings(
            database_url=f"postgresql+psycopg://reserva_app@127.0.0.1:{free_port()}/gone",
            redis_url=f"redis://127.0.0.1:{free_port()}/0",
            kek_file=kek_file,
        )
    )
    async with AsyncTestClient(app=create_app(http_services(nowhere))) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")

    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    body = _unready(ready)
    assert body["checks"]["redis"].startswith("unavailable")
    assert body["checks"]["database"].startswith("unavailable")


async def test_ready_needs_a_worker_heartbeat_then_says_ok_for_every_check(
    container: Container,
) -> None:
    without_worker = _unready(await _ready(container))
    assert without_worker["checks"] == {
        "database": "ok",
        "redis": "ok",
        "worker": "no job worker has ever started",
    }
    assert "worker" in without_worker["detail"]

    worker = start_in_process_worker(container, 1, handlers={})
    try:
        async with AsyncTestClient(app=create_app(http_services(container))) as client:
            for _ in range(150):  # the worker registers its heartbeat as it starts
                answer = await client.get("/health/ready")
                if answer.status_code == 200:
                    break
                await asyncio.sleep(0.1)
    finally:
        await worker.stop()

    assert answer.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


async def test_a_schema_behind_the_code_is_not_ready(
    container: Container, database: LocalDatabase
) -> None:
    migrate.downgrade(database.migrator_url, "0023_live_availability")
    try:
        body = _unready(await _ready(container))
    finally:
        migrate.upgrade(database.migrator_url)

    assert body["checks"]["migrations"] == f"database behind the code's {code_revision()}"
    assert "migrations" in body["detail"]
