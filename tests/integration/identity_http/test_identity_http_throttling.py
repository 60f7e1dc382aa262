"""Back-off on failures and request limits, over HTTP with real Redis: 429 problem+json with
Retry-After, per account and per IP, growing with every failure after a block."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from dependency_injector import providers
from identity_http_support import (
    PASSWORD,
    PROBLEM,
    Client,
    cheap_settings,
    client_at,
    new_email,
    new_user,
    register,
    unique_ip,
)
from litestar import Litestar

from adapters.memory.clock import FixedClock
from devservers.net import free_port
from entrypoints.container import Container, build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.http.rate_limit import RateLimitPolicy

WRONG = {"password": "not the password at all"}


def assert_throttled(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["retry-after"] == str(retry_after)
    assert response.json()["type"] == "urn:reserva:problem:too-many-requests"


async def test_failed_logins_lock_the_account_out_whatever_the_ip(
    app: Litestar, client: Client
) -> None:
    user = await new_user(client)
    for _ in range(5):
        async with client_at(app, unique_ip()) as elsewhere:
            failed = await elsewhere.post("/auth/login", json={"email": user.email} | WRONG)
            assert failed.status_code == 401

    async with client_at(app, unique_ip()) as fresh:
        right = await fresh.post("/auth/login", json={"email": user.email, "password": PASSWORD})

    assert_throttled(right, retry_after=2)


async def test_failed_logins_from_one_ip_block_that_ip_for_every_account(
    app: Litestar, client: Client
) -> None:
    user = await new_user(client)
    for _ in range(5):
        await client.post("/auth/login", json={"email": new_email()} | WRONG)

    here = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    async with client_at(app, unique_ip()) as elsewhere:
        there = await elsewhere.post(
            "/auth/login", json={"email": user.email, "password": PASSWORD}
        )

    assert_throttled(here, retry_after=2)
    assert there.status_code == 200


async def test_the_block_doubles_with_every_failure_after_it(
    client: Client, clock: FixedClock
) -> None:
    user = await new_user(client)
    wrong = {"email": user.email} | WRONG
    for _ in range(5):
        await client.post("/auth/login", json=wrong)
    blocked = [await client.post("/auth/login", json=wrong)]
    for seconds in (2, 4):
        clock.advance(timedelta(seconds=seconds))
        assert (await client.post("/auth/login", json=wrong)).status_code == 401
        blocked.append(await client.post("/auth/login", json=wrong))
    clock.advance(timedelta(seconds=8))

    right = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})

    for response, seconds in zip(blocked, (2, 4, 8), strict=True):
        assert_throttled(response, retry_after=seconds)
    assert right.status_code == 200


async def test_bad_refresh_tokens_back_off_per_ip(app: Litestar, client: Client) -> None:
    user = await new_user(client)
    for n in range(5):
        bad = await client.post("/auth/refresh", json={"refresh_token": f"forged-{n}"})
        assert bad.status_code == 401

    here = await client.post("/auth/refresh", json={"refresh_token": user.refresh})
    async with client_at(app, unique_ip()) as elsewhere:
        there = await elsewhere.post("/auth/refresh", json={"refresh_token": user.refresh})

    assert_throttled(here, retry_after=2)
    assert there.status_code == 200


async def test_bad_reset_tokens_back_off_per_ip(client: Client) -> None:
    attempts = [
        await client.post(
            "/auth/password/reset", json={"token": f"forged-{n}", "new_password": PASSWORD}
        )
        for n in range(6)
    ]

    assert [a.status_code for a in attempts[:5]] == [400] * 5
    assert_throttled(attempts[5], retry_after=2)


async def test_bad_mfa_challenges_back_off_per_ip(client: Client) -> None:
    attempts = [
        await client.post(
            "/auth/mfa/login", json={"challenge_token": f"forged-{n}", "code": "123456"}
        )
        for n in range(6)
    ]

    assert [a.status_code for a in attempts[:5]] == [400] * 5
    assert_throttled(attempts[5], retry_after=2)


async def test_registrations_are_limited_per_ip(client: Client) -> None:
    for _ in range(10):
        await register(client, new_email())

    refused = await client.post("/auth/register", json={"email": new_email(), "password": PASSWORD})

    assert_throttled(refused, retry_after=2)
    assert "too many requests" in refused.json()["detail"]


@pytest.mark.parametrize("known", [True, False], ids=["known address", "unknown address"])
async def test_reset_requests_are_limited_per_address_alike_for_known_and_unknown(
    app: Litestar, client: Client, known: bool
) -> None:
    email = (await new_user(client)).email if known else new_email()
    for _ in range(10):
        async with client_at(app, unique_ip()) as somewhere:
            asked = await somewhere.post("/auth/password/reset-request", json={"email": email})
            assert asked.status_code == 202

    async with client_at(app, unique_ip()) as fresh:
        refused = await fresh.post("/auth/password/reset-request", json={"email": email})

    assert_throttled(refused, retry_after=2)


# ---------------------------------------------------------------- the general rate limit


async def test_the_api_limit_counts_per_ip_and_per_user_separately(
    app: Litestar, container: Container, client: Client, clock: FixedClock
) -> None:
    async with client_at(app, unique_ip()) as elsewhere:
        user = await new_user(elsewhere)
    container.rate_limit_policy.override(
        providers.Object(RateLimitPolicy(requests=3, window_seconds=60))
    )
    clock.advance(timedelta(seconds=60))  # past the requests that signed the user up

    anonymous = [await client.get("/providers") for _ in range(4)]
    signed_in = [await client.get("/me", headers=user.headers) for _ in range(4)]
    clock.advance(timedelta(seconds=60))
    later = await client.get("/providers")

    assert [a.status_code for a in anonymous] == [200, 200, 200, 429]
    assert [s.status_code for s in signed_in] == [200, 200, 200, 429]
    assert_throttled(anonymous[3], retry_after=60)
    assert later.status_code == 200


async def test_a_flood_of_bad_tokens_is_limited_per_ip(
    container: Container, client: Client
) -> None:
    container.rate_limit_policy.override(
        providers.Object(RateLimitPolicy(requests=2, window_seconds=60))
    )
    forged = {"Authorization": "Bearer forged"}

    answers = [await client.get("/me", headers=forged) for _ in range(3)]

    assert [a.status_code for a in answers] == [401, 401, 429]


@pytest_asyncio.fixture
async def without_redis(identity_http_database: str, kek_file: Path) -> AsyncIterator[Client]:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings = cheap_settings(identity_http_database, nowhere, kek_file)
    container = build_container(settings)
    async with client_at(create_app(http_services(container)), unique_ip()) as client:
        yield client
    await container.close()


async def test_the_api_limit_lets_requests_through_when_redis_is_down(
    without_redis: Client,
) -> None:
    jwks = await without_redis.get("/.well-known/jwks.json")
    login = await without_redis.post(
        "/auth/login", json={"email": new_email(), "password": PASSWORD}
    )

    assert jwks.status_code == 200  # the limit guards capacity, not access
    assert login.status_code == 503  # the login back-off does guard access: closed
