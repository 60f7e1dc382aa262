"""Accounts over HTTP: registration, verification, login, logout, password change and reset,
and no answer that tells a stranger whether an address has an account."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from identity_http_support import (
    PASSWORD,
    PROBLEM,
    Client,
    bearer,
    client_at,
    log_in,
    mailed_token,
    new_email,
    new_user,
    operator,
    outbox_events,
    register,
    unique_ip,
)

from core.identity.admin import operator_email
from core.identity.model import (
    EMAIL_VERIFICATION_REQUESTED,
    EXISTING_ACCOUNT_REGISTRATION_ATTEMPTED,
    NO_PASSWORD,
    PASSWORD_RESET_REQUESTED,
)
from entrypoints.container import Container, build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.settings import Settings

NEW_PASSWORD = "quartz meadow falcon 19"


async def test_register_verify_and_log_in(client: Client, container: Container) -> None:
    email = new_email()
    await register(client, email)
    token = await mailed_token(container, EMAIL_VERIFICATION_REQUESTED, email)

    verified = await client.post("/auth/verify-email", json={"token": token})
    user = await log_in(client, email)
    me = await client.get("/me", headers=user.headers)

    assert verified.status_code == 204
    assert me.status_code == 200
    assert me.json()["email"] == email
    assert me.json()["email_verified"] is True
    assert me.json()["roles"] == ["customer"]
    assert me.json()["session_aal"] == "aal1"


async def test_a_verification_token_works_once(client: Client, container: Container) -> None:
    email = new_email()
    await register(client, email)
    token = await mailed_token(container, EMAIL_VERIFICATION_REQUESTED, email)
    await client.post("/auth/verify-email", json={"token": token})

    again = await client.post("/auth/verify-email", json={"token": token})

    assert again.status_code == 400
    assert again.headers["content-type"].startswith(PROBLEM)
    assert again.json()["type"] == "urn:reserva:problem:invalid-token"


async def test_registering_a_taken_address_answers_exactly_like_a_new_one(
    client: Client, container: Container
) -> None:
    taken = new_email()
    await register(client, taken)

    again = await client.post("/auth/register", json={"email": taken, "password": PASSWORD})
    fresh = await client.post("/auth/register", json={"email": new_email(), "password": PASSWORD})

    assert again.status_code == fresh.status_code == 202
    assert again.json() == fresh.json()
    assert await outbox_events(container, taken) == [
        EMAIL_VERIFICATION_REQUESTED,
        EXISTING_ACCOUNT_REGISTRATION_ATTEMPTED,  # the owner hears about it by mail
    ]


async def test_a_weak_password_is_refused_with_the_rule(client: Client) -> None:
    response = await client.post(
        "/auth/register", json={"email": new_email(), "password": "qwerty123456"}
    )

    assert response.status_code == 422
    assert response.json()["type"] == "urn:reserva:problem:password-rejected"
    assert "common" in response.json()["detail"]


@pytest.mark.parametrize("password", ["123456789012", "passwordpassword", "Password123!"])
async def test_common_twelve_character_passwords_are_refused(client: Client, password: str) -> None:
    response = await client.post(
        "/auth/register", json={"email": new_email(), "password": password}
    )

    assert response.status_code == 422
    assert response.json()["type"] == "urn:reserva:problem:password-rejected"
    assert "common or breached" in response.json()["detail"]


async def test_an_operator_account_cannot_log_in_over_the_api(
    client: Client, container: Container
) -> None:
    caller = await operator(container)  # creates the account of os user "tests"
    account = await container.find_user_by_email()(caller=caller, email=operator_email("tests"))
    assert account.unwrap().user_id == caller.user_id  # the address tried below is a real one
    unknown = await client.post("/auth/login", json={"email": new_email(), "password": PASSWORD})

    for guess in (PASSWORD, NO_PASSWORD):
        refused = await client.post(
            "/auth/login", json={"email": operator_email("tests"), "password": guess}
        )
        assert refused.status_code == 401
        assert refused.json() == unknown.json()


async def test_unknown_address_and_wrong_password_get_the_same_answer(client: Client) -> None:
    user = await new_user(client)

    wrong = await client.post("/auth/login", json={"email": user.email, "password": "nope" * 4})
    unknown = await client.post("/auth/login", json={"email": new_email(), "password": PASSWORD})

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.headers["content-type"].startswith(PROBLEM)
    assert wrong.json() == unknown.json()


async def test_reset_requests_answer_the_same_for_known_and_unknown_addresses(
    client: Client, container: Container
) -> None:
    user = await new_user(client)
    stranger = new_email()

    known = await client.post("/auth/password/reset-request", json={"email": user.email})
    unknown = await client.post("/auth/password/reset-request", json={"email": stranger})

    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert PASSWORD_RESET_REQUESTED in await outbox_events(container, user.email)
    assert await outbox_events(container, stranger) == []


async def test_a_password_reset_ends_every_session_and_sets_the_new_password(
    client: Client, container: Container
) -> None:
    user = await new_user(client)
    await client.post("/auth/password/reset-request", json={"email": user.email})
    token = await mailed_token(container, PASSWORD_RESET_REQUESTED, user.email)

    reset = await client.post(
        "/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    old_refresh = await client.post("/auth/refresh", json={"refresh_token": user.refresh})
    old_password = await client.post(
        "/auth/login", json={"email": user.email, "password": PASSWORD}
    )

    assert reset.status_code == 204
    assert old_refresh.status_code == 401
    assert old_password.status_code == 401
    assert (await log_in(client, user.email, NEW_PASSWORD)).access


async def test_changing_the_password_keeps_this_session_and_ends_the_others(
    client: Client,
) -> None:
    user = await new_user(client)
    other = await log_in(client, user.email)

    changed = await client.post(
        "/auth/password/change",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=user.headers,
    )
    mine = await client.post("/auth/refresh", json={"refresh_token": user.refresh})
    theirs = await client.post("/auth/refresh", json={"refresh_token": other.refresh})

    assert changed.status_code == 204
    assert mine.status_code == 200
    assert theirs.status_code == 401


async def test_a_wrong_current_password_is_a_field_error_not_a_401(client: Client) -> None:
    user = await new_user(client)

    response = await client.post(
        "/auth/password/change",
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
        headers=user.headers,
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "current_password", "message": "is not your current password"}
    ]


async def test_logout_ends_the_session(client: Client) -> None:
    user = await new_user(client)

    out = await client.post("/auth/logout", headers=user.headers)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": user.refresh})

    assert out.status_code == 204
    assert refreshed.status_code == 401
    assert refreshed.json()["type"] == "urn:reserva:problem:invalid-refresh-token"
    assert refreshed.json()["detail"].startswith("the refresh token is unknown, expired")


async def test_sessions_are_listed_and_revoked_by_their_owner_only(client: Client) -> None:
    user = await new_user(client)
    second = await log_in(client, user.email)
    stranger = await new_user(client)

    listed = await client.get("/me/sessions", headers=user.headers)
    foreign = await client.delete(f"/me/sessions/{second.session_id}", headers=stranger.headers)
    own = await client.delete(f"/me/sessions/{second.session_id}", headers=user.headers)
    after = await client.get("/me/sessions", headers=user.headers)

    assert {s["id"] for s in listed.json()} == {user.session_id, second.session_id}
    assert [s["current"] for s in listed.json() if s["id"] == user.session_id] == [True]
    assert foreign.status_code == 404
    assert own.status_code == 204
    assert [s["id"] for s in after.json()] == [user.session_id]


async def test_ending_all_sessions_can_keep_the_current_one(client: Client) -> None:
    user = await new_user(client)
    await log_in(client, user.email)
    await log_in(client, user.email)

    kept = await client.delete("/me/sessions?keep_current=true", headers=user.headers)
    mine = await client.post("/auth/refresh", json={"refresh_token": user.refresh})
    everything = await client.delete("/me/sessions", headers=bearer(mine.json()["access_token"]))
    gone = await client.post("/auth/refresh", json={"refresh_token": mine.json()["refresh_token"]})

    assert kept.json() == {"revoked": 2}
    assert mine.status_code == 200
    assert everything.json() == {"revoked": 1}
    assert gone.status_code == 401


@pytest_asyncio.fixture
async def owasp_client(settings: Settings) -> AsyncIterator[Client]:
    """The production Argon2 cost (the defaults), and no back-off in the way of sampling."""
    production = Settings(
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        kek_file=settings.kek_file,
        login_max_failures=1000,
    )
    container = build_container(production)
    async with client_at(create_app(http_services(container)), unique_ip()) as client:
        yield client
    await container.close()


async def _seconds(client: Client, body: dict[str, str]) -> float:
    started = time.perf_counter()
    response = await client.post("/auth/login", json=body)
    assert response.status_code == 401
    return time.perf_counter() - started


async def test_unknown_addresses_take_as_long_to_refuse_as_wrong_passwords(
    owasp_client: Client,
) -> None:
    user = await new_user(owasp_client)
    known, unknown = [], []
    for _ in range(8):  # interleaved, so load on the machine hits both alike
        known.append(await _seconds(owasp_client, {"email": user.email, "password": "x" * 12}))
        unknown.append(await _seconds(owasp_client, {"email": new_email(), "password": "x" * 12}))

    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.6 < ratio < 1.6, (known, unknown)
