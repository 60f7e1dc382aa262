"""When what we depend on fails, or the client asks for nothing we serve: still problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from dependency_injector import providers
from http_support import Client, TokenTable
from litestar.testing import AsyncTestClient

from devservers.net import free_port
from entrypoints.container import build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.settings import Settings

PROBLEM = "application/problem+json"


@pytest_asyncio.fixture
async def stranded(tokens: TokenTable, kek_file: Path) -> AsyncIterator[Client]:
    """An app whose database and Redis are not there (closed ports)."""
    nowhere = free_port()
    container = build_container(
        Settings(
            database_url=f"postgresql+psycopg://postgres@127.0.0.1:{nowhere}/reserva",
            redis_url=f"redis://127.0.0.1:{nowhere}/0",
            kek_file=kek_file,
        )
    )
    container.authenticator.override(providers.Object(tokens))
    async with AsyncTestClient(app=create_app(http_services(container))) as client:
        yield client


async def test_an_unreachable_database_answers_503(stranded: Client) -> None:
    response = await stranded.get("/providers")

    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["retry-after"]
    assert response.json()["title"] == "Service unavailable"
    assert "psycopg" not in response.text  # no internals leak to clients


async def test_an_unreachable_redis_answers_503(stranded: Client, tokens: TokenTable) -> None:
    response = await stranded.post(
        "/bookings",
        json={"offering_id": "5d0f6c43-8b39-4a43-9a2c-0a4cbbd3f6a1"},
        headers=tokens.customer() | {"Idempotency-Key": "k"},
    )

    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM)


async def test_a_request_finding_the_pool_busy_answers_503_after_the_pool_timeout(
    http_database: str, redis_url: str, kek_file: Path, tokens: TokenTable
) -> None:
    """Fixed-size pools (issue 11): no overflow connection is opened; a request that finds
    every pooled connection busy waits DB_POOL_TIMEOUT_SECONDS, then gets a clear 503."""
    container = build_container(
        Settings(
            database_url=http_database,
            redis_url=redis_url,
            kek_file=kek_file,
            db_pool_size=1,
            db_pool_timeout_seconds=0.2,
        )
    )
    container.authenticator.override(providers.Object(tokens))
    try:
        async with AsyncTestClient(app=create_app(http_services(container))) as client:
            async with container.bookings_engine().connect() as busy:  # /providers reads it
                await busy.exec_driver_sql("SELECT 1")
                refused = await client.get("/providers")
            served = await client.get("/providers")
    finally:
        await container.close()

    assert refused.status_code == 503
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert refused.headers["retry-after"]
    assert "QueuePool" not in refused.text
    assert served.status_code == 200


async def test_an_unknown_route_is_a_404_problem(client: Client) -> None:
    response = await client.get("/no/such/thing")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["instance"] == "/no/such/thing"


async def test_an_unsupported_method_is_a_405_problem(client: Client) -> None:
    response = await client.delete("/providers")

    assert response.status_code == 405
    assert response.headers["content-type"].startswith(PROBLEM)
