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


async def test_an_unknown_route_is_a_404_problem(client: Client) -> None:
    response = await client.get("/no/such/thing")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["instance"] == "/no/such/thing"


async def test_an_unsupported_method_is_a_405_problem(client: Client) -> None:
    response = await client.delete("/providers")

    assert response.status_code == 405
    assert response.headers["content-type"].startswith(PROBLEM)
