"""Guessing in parallel: a burst of concurrent guesses reaches the password hasher or the TOTP
check no more often than the same guesses sent one after another would.

A real uvicorn server (real Redis, real PostgreSQL) takes the whole burst at once. The password
hasher is the real Argon2 one wrapped in a double that counts the checks and holds each until
the burst is in, so every request is in flight together whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from dependency_injector import providers
from identity_http_support import (
    PASSWORD,
    Client,
    enrol_totp,
    live_client_at,
    new_user,
    totp_code,
    unique_loopback_ip,
)

from adapters.memory.clock import FixedClock
from entrypoints.container import Container
from entrypoints.http.rate_limit import RateLimitPolicy
from guessing_support import (
    CountingTotpGenerator,
    GatedPasswordHasher,
    until_each_is_checked_or_answered,
)

BURST = 100
CODE_BURST = 50
ALLOWED = 5  # the default login_max_failures and mfa_challenge_max_attempts
STEP = timedelta(seconds=30)
TOO_MANY = "urn:reserva:problem:too-many-requests"


@pytest.fixture(autouse=True)
def no_general_rate_limit(container: Container) -> None:
    """Only the back-off under test may refuse a request of the burst."""
    container.rate_limit_policy.override(
        providers.Object(RateLimitPolicy(requests=0, window_seconds=60))
    )


@pytest.fixture
def hasher(container: Container) -> GatedPasswordHasher:
    gated = GatedPasswordHasher(container.password_hasher())
    container.password_hasher.override(providers.Object(gated))
    return gated


@pytest.fixture
def totp(container: Container) -> CountingTotpGenerator:
    counting = CountingTotpGenerator(container.totp_generator())
    container.totp_generator.override(providers.Object(counting))
    return counting


@pytest.fixture
async def client(live: str) -> AsyncIterator[Client]:
    async with live_client_at(live, unique_loopback_ip()) as client:
        yield client


def statuses(answers: list[httpx.Response]) -> Counter[int]:
    return Counter(a.status_code for a in answers)


async def test_a_burst_of_wrong_passwords_is_checked_only_as_often_as_the_back_off_allows(
    client: Client, hasher: GatedPasswordHasher
) -> None:
    user = await new_user(client)
    wrong = {"email": user.email, "password": "not the password at all"}
    right = {"email": user.email, "password": PASSWORD}

    hasher.hold()
    guesses = [asyncio.create_task(client.post("/auth/login", json=wrong)) for _ in range(BURST)]
    await until_each_is_checked_or_answered(hasher, guesses)
    checked_before = hasher.checks
    right_guess = asyncio.create_task(client.post("/auth/login", json=right))
    await until_each_is_checked_or_answered(hasher, [right_guess], base=checked_before)
    hasher.release()
    answers = await asyncio.gather(*guesses)
    last = await right_guess

    assert hasher.checks == ALLOWED
    assert statuses(answers) == {401: ALLOWED, 429: BURST - ALLOWED}
    assert last.status_code == 429, last.text
    assert last.json()["type"] == TOO_MANY


async def _challenge(client: Client, email: str) -> str:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.json()["outcome"] == "mfa_required", response.text
    token: str = response.json()["challenge_token"]
    return token


def _wrong_code(secret: str, clock: FixedClock) -> str:
    now = clock.now()
    valid = {totp_code(secret, now + k * STEP) for k in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(4)) if c not in valid)


@pytest.mark.parametrize("ips", [1, CODE_BURST], ids=["from one ip", "from as many ips"])
async def test_a_burst_of_codes_on_one_challenge_is_checked_at_most_five_times(
    live: str, client: Client, totp: CountingTotpGenerator, clock: FixedClock, ips: int
) -> None:
    user = await new_user(client)
    enrolled = await enrol_totp(client, user, clock.now())
    clock.advance(STEP)  # the enrolment used this step's code
    body = {"challenge_token": await _challenge(client, user.email)}
    wrong = body | {"code": _wrong_code(enrolled.secret, clock)}
    senders = [live_client_at(live, unique_loopback_ip()) for _ in range(ips - 1)] + [client]
    totp.checks = 0

    answers = await asyncio.gather(
        *(senders[n % ips].post("/auth/mfa/login", json=wrong) for n in range(CODE_BURST))
    )
    last = await client.post(
        "/auth/mfa/login", json=body | {"code": totp_code(enrolled.secret, clock.now())}
    )
    for sender in senders[:-1]:
        await sender.aclose()

    kinds = Counter(a.json()["type"].rsplit(":", 1)[1] for a in answers)
    assert totp.checks <= ALLOWED
    assert kinds["invalid-mfa-code"] <= ALLOWED
    assert kinds["invalid-mfa-code"] >= 1  # the burst did reach the check: the limit is what held
    assert set(kinds) <= {"invalid-mfa-code", "invalid-token", "too-many-requests"}
    assert last.status_code in (400, 429), last.text  # the challenge or the factor is used up
