"""Every write needs a principal, except the sign-in flows that carry their own credentials
and the processor's signed webhooks (the signature is their credential); public reads need
none. Checked over the app's own route list, so a route added later without protection fails
here."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from http_support import Client, TokenTable
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from entrypoints.container import build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.http.auth import PUBLIC
from entrypoints.http.edge import SIGNED_WEBHOOKS
from entrypoints.settings import Settings

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
PUBLIC_READS = ["/providers", "/search?lat=0&lng=0&radius_m=1000"]


def _concrete(path: str) -> str:
    """A path template with every {param:type} filled with a fresh UUID."""
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def _writes(app: Litestar, *, public: bool) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for method, (handler, _) in route.route_handler_map.items()
        if method in WRITES and bool(handler.opt.get(PUBLIC)) is public
    )


# A browser records its cookie choices before anyone logs in (against an anonymous id).
ANONYMOUS_WRITES = {("POST", "/cookies/choices")}


def test_only_sign_in_flows_signed_webhooks_and_cookie_choices_are_public_writes(
    app: Litestar,
) -> None:
    public = _writes(app, public=True)
    others = [write for write in public if write not in ANONYMOUS_WRITES]

    assert all(path.startswith(("/auth/", SIGNED_WEBHOOKS)) for _, path in others), public
    assert set(public) >= ANONYMOUS_WRITES
    assert ("POST", "/webhooks/stripe") in public


async def test_every_other_write_answers_401_without_a_token(app: Litestar, client: Client) -> None:
    writes = _writes(app, public=False)

    answers = {
        (method, path): await client.request(method, _concrete(path), json={})
        for method, path in writes
    }

    assert len(writes) >= 12  # at least six catalog-management writes and six booking actions
    for (method, path), answer in answers.items():
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json()["status"] == 401


async def test_every_other_write_answers_401_for_an_unknown_token(
    app: Litestar, client: Client
) -> None:
    forged = {"Authorization": "Bearer not-a-token-we-issued"}

    answers = [
        await client.request(method, _concrete(path), json={}, headers=forged)
        for method, path in _writes(app, public=False)
    ]

    assert {a.status_code for a in answers} == {401}
    assert all('error="invalid_token"' in a.headers["www-authenticate"] for a in answers)


async def test_a_malformed_authorization_header_is_refused(
    client: Client, tokens: TokenTable
) -> None:
    token = tokens.admin()["Authorization"].removeprefix("Bearer ")

    answers = [
        await client.post("/providers", json={"name": "x"}, headers={"Authorization": h})
        for h in (token, f"Basic {token}", "Bearer", "Bearer  ")
    ]

    assert [a.status_code for a in answers] == [401] * 4


async def test_own_bookings_need_a_token(client: Client) -> None:
    response = await client.get("/bookings")

    assert response.status_code == 401


async def test_the_catalog_search_and_docs_are_public(client: Client) -> None:
    answers = [await client.get(path) for path in [*PUBLIC_READS, "/openapi.json", "/docs"]]

    assert [a.status_code for a in answers] == [200] * len(answers)


@pytest_asyncio.fixture
async def production_client(
    http_database: str, redis_url: str, kek_file: Path
) -> AsyncIterator[Client]:
    """The container exactly as production builds it: the identity service's authenticator."""
    container = build_container(
        Settings(database_url=http_database, redis_url=redis_url, kek_file=kek_file)
    )
    async with AsyncTestClient(app=create_app(http_services(container))) as client:
        yield client


async def test_the_production_authenticator_refuses_tokens_it_did_not_issue(
    production_client: Client, tokens: TokenTable
) -> None:
    response = await production_client.post(
        "/providers", json={"name": "x"}, headers=tokens.admin()
    )

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
