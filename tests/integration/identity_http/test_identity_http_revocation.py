"""A token whose session ended, or whose user's roles changed, is refused at its very next
request, by every API process (ASVS V7.4.1).

Two real uvicorn servers, separate processes on one PostgreSQL and one Redis, as production
runs them: each action is taken on server A, and the old access token is then tried on B.
The servers run on the system clock and start once for the module.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import attrs
import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from identity_http_support import (
    PASSWORD,
    SignedIn,
    bearer,
    client_at,
    enrol_totp,
    log_in,
    mailed_token,
    new_user,
    promote,
    unique_ip,
)
from pydantic import SecretStr

from adapters.postgis import migrate
from core.identity.model import PASSWORD_RESET_REQUESTED
from devservers.net import free_port
from devservers.postgres import LocalPostgres
from entrypoints.container import Container, build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.settings import Settings

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[2] / "src"
READY_SECONDS = 60
PROVIDER = "5d0f6c43-8b39-4a43-9a2c-0a4cbbd3f6a2"
NEW_PASSWORD = "quartz meadow violin 42"


@attrs.frozen
class Servers:
    a: str
    b: str
    settings: Settings


def _serve(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(HERE), "served_app:app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    with log.open("ab") as sink:
        return subprocess.Popen(command, env=env, stdout=sink, stderr=sink, start_new_session=True)


def _wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API process exited:\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/.well-known/jwks.json", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the API at {url} did not start:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _env(value: object) -> str:
    """A setting as its environment variable spells it (lists are comma-separated, secrets
    revealed, and an unset one blank, which reads as unset)."""
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return ",".join(map(str, value)) if isinstance(value, tuple | list) else str(value)


@pytest.fixture(scope="module")
def servers(
    postgres_server: LocalPostgres,
    redis_url: str,
    kek_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Servers]:
    database = postgres_server.create_database(f"reserva_revocation_{uuid.uuid4().hex[:8]}")
    migrate.upgrade(database.migrator_url)
    settings = Settings(
        database_url=database.app_url,
        redis_url=redis_url,
        argon2_memory_kib=1024,
        argon2_time_cost=1,
        auth_request_limit=100_000,  # every request of the module comes from 127.0.0.1
        rate_limit_requests=0,
        kek_file=kek_file,
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)]),
        **{name.upper(): _env(value) for name, value in settings.model_dump().items()},
    }
    log = tmp_path_factory.mktemp("api") / "api.log"
    ports = free_port(), free_port()
    processes = [_serve(port, env, log) for port in ports]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, process in zip(urls, processes, strict=True):
            _wait_until_ready(url, process, log)
        yield Servers(a=urls[0], b=urls[1], settings=settings)
    finally:
        for process in processes:
            _stop(process)


@pytest_asyncio.fixture
async def a(servers: Servers) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=servers.a, timeout=30) as client:
        yield client


@pytest_asyncio.fixture
async def b(servers: Servers) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=servers.b, timeout=30) as client:
        yield client


@pytest_asyncio.fixture
async def container(servers: Servers) -> AsyncIterator[Container]:
    """The operator's side, as the CLI would act: granting the first admin its role."""
    container = build_container(servers.settings)
    yield container
    await container.close()


async def admin(a: httpx.AsyncClient, container: Container) -> dict[str, str]:
    """Headers of a new admin whose session has a second factor (aal2)."""
    signed_in = await new_user(a, "admin")
    await promote(container, signed_in, admin=True)
    enrolled = await enrol_totp(a, await log_in(a, signed_in.email), datetime.now(UTC))
    return enrolled.headers


async def works(client: httpx.AsyncClient, user: SignedIn) -> bool:
    response = await client.get("/me", headers=user.headers)
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


# --- sessions ending -----------------------------------------------------------------------------


async def test_after_logout_the_token_is_refused_by_the_other_process(
    a: httpx.AsyncClient, b: httpx.AsyncClient
) -> None:
    user = await new_user(a)
    assert await works(b, user)

    logged_out = await a.post("/auth/logout", headers=user.headers)

    assert logged_out.status_code == 204
    refused = await b.get("/me", headers=user.headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="reserva", error="invalid_token"'


async def test_after_a_session_is_revoked_its_token_is_refused_and_the_revoker_goes_on(
    a: httpx.AsyncClient, b: httpx.AsyncClient
) -> None:
    here = await new_user(a)
    elsewhere = await log_in(a, here.email)
    assert await works(b, elsewhere)

    ended = await a.delete(f"/me/sessions/{elsewhere.session_id}", headers=here.headers)

    assert ended.status_code == 204
    assert not await works(b, elsewhere)
    assert await works(b, here)


async def test_after_revoke_all_every_token_is_refused(
    a: httpx.AsyncClient, b: httpx.AsyncClient
) -> None:
    here = await new_user(a)
    elsewhere = await log_in(a, here.email)
    assert [await works(b, here), await works(b, elsewhere)] == [True, True]

    ended = await a.delete("/me/sessions", headers=here.headers)

    assert ended.json() == {"revoked": 2}
    assert [await works(b, here), await works(b, elsewhere)] == [False, False]


async def test_after_a_password_change_the_other_sessions_tokens_are_refused(
    a: httpx.AsyncClient, b: httpx.AsyncClient
) -> None:
    here = await new_user(a)
    elsewhere = await log_in(a, here.email)
    assert await works(b, elsewhere)

    changed = await a.post(
        "/auth/password/change",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=here.headers,
    )

    assert changed.status_code == 204
    assert not await works(b, elsewhere)
    assert await works(b, here)  # the session that changed it stays


async def test_after_a_password_reset_every_token_is_refused(
    a: httpx.AsyncClient, b: httpx.AsyncClient, container: Container
) -> None:
    user = await new_user(a)
    await a.post("/auth/password/reset-request", json={"email": user.email})
    token = await _mailed(container, user.email)
    assert await works(b, user)

    reset = await a.post(
        "/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert reset.status_code == 204
    assert not await works(b, user)


async def _mailed(container: Container, email: str) -> str:
    """The reset token, once the server's background task has queued the mail."""
    for _ in range(100):
        with contextlib.suppress(sa.exc.NoResultFound):  # no row yet: scalar_one() raises
            return await mailed_token(container, PASSWORD_RESET_REQUESTED, email)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reset mail for {email}")


# --- what an admin changes -----------------------------------------------------------------------


async def test_after_a_lock_every_token_is_refused(
    a: httpx.AsyncClient, b: httpx.AsyncClient, container: Container
) -> None:
    headers = await admin(a, container)
    user = await new_user(a)
    elsewhere = await log_in(a, user.email)
    assert [await works(b, user), await works(b, elsewhere)] == [True, True]

    locked = await a.post(
        f"/admin/users/{user.user_id}/lock", json={"reason": "fraud"}, headers=headers
    )

    assert locked.status_code == 204
    assert [await works(b, user), await works(b, elsewhere)] == [False, False]


async def test_after_the_staff_role_is_removed_the_token_is_refused_and_a_refresh_drops_it(
    a: httpx.AsyncClient, b: httpx.AsyncClient, container: Container
) -> None:
    headers = await admin(a, container)
    user = await new_user(a)
    granted = await a.post(f"/admin/users/{user.user_id}/staff/{PROVIDER}", headers=headers)
    staff = await log_in(a, user.email)
    assert (await b.get("/me", headers=staff.headers)).json()["provider_ids"] == [PROVIDER]

    removed = await a.delete(f"/admin/users/{user.user_id}/staff/{PROVIDER}", headers=headers)
    refused = await works(b, staff)
    refreshed = await b.post("/auth/refresh", json={"refresh_token": staff.refresh})
    me = await b.get("/me", headers=bearer(refreshed.json()["access_token"]))

    assert [granted.status_code, removed.status_code] == [204, 204]
    assert not refused
    assert me.json()["roles"] == ["customer"]


async def test_after_the_admin_role_is_removed_the_token_is_refused(
    a: httpx.AsyncClient, b: httpx.AsyncClient, container: Container
) -> None:
    headers = await admin(a, container)
    demoted = await admin(a, container)
    assert (await b.get("/admin/users", params={"limit": 1}, headers=demoted)).status_code == 200
    demoted_id = (await b.get("/me", headers=demoted)).json()["id"]

    removed = await a.delete(f"/admin/users/{demoted_id}/admin", headers=headers)
    as_admin = await b.get("/admin/users", params={"limit": 1}, headers=demoted)

    assert removed.status_code == 204
    assert as_admin.status_code == 401


async def test_a_granted_role_needs_a_new_token_which_the_client_gets_by_refreshing(
    a: httpx.AsyncClient, b: httpx.AsyncClient, container: Container
) -> None:
    headers = await admin(a, container)
    user = await new_user(a)

    granted = await a.post(f"/admin/users/{user.user_id}/staff/{PROVIDER}", headers=headers)
    refused = await works(b, user)
    refreshed = await b.post("/auth/refresh", json={"refresh_token": user.refresh})
    me = await b.get("/me", headers=bearer(refreshed.json()["access_token"]))

    assert granted.status_code == 204
    assert not refused
    assert me.json()["provider_ids"] == [PROVIDER]


# --- what a dead token can no longer do ----------------------------------------------------------


async def test_a_logged_out_token_cannot_end_other_sessions_or_start_totp_enrolment(
    a: httpx.AsyncClient, b: httpx.AsyncClient
) -> None:
    stolen = await new_user(a)
    owner = await log_in(a, stolen.email)
    await a.post("/auth/logout", headers=stolen.headers)

    end_owner = await b.delete(f"/me/sessions/{owner.session_id}", headers=stolen.headers)
    end_all = await b.delete("/me/sessions", headers=stolen.headers)
    enrol = await b.post("/me/mfa/totp", headers=stolen.headers)

    assert [end_owner.status_code, end_all.status_code, enrol.status_code] == [401, 401, 401]
    me = await a.get("/me", headers=owner.headers)
    assert me.json()["mfa"]["enrolment_pending"] is False  # and the owner's session lives


# --- when Redis cannot answer ------------------------------------------------------------------


@pytest_asyncio.fixture
async def without_redis(servers: Servers) -> AsyncIterator[httpx.AsyncClient]:
    """An API process of the same deployment whose Redis is gone."""
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    container = build_container(servers.settings.model_copy(update={"redis_url": unreachable}))
    async with client_at(create_app(http_services(container)), unique_ip()) as client:
        yield client
    await container.close()


async def test_without_redis_a_token_is_not_trusted_but_public_routes_still_answer(
    a: httpx.AsyncClient, without_redis: httpx.AsyncClient
) -> None:
    user = await new_user(a)

    me = await without_redis.get("/me", headers=user.headers)
    search = await without_redis.get(
        "/search", params={"lat": 0, "lng": 0, "radius_m": 1}, headers=user.headers
    )

    assert me.status_code == 503  # fails closed: the session may have ended
    assert me.headers["content-type"] == "application/problem+json"
    assert search.status_code == 200  # the rate limit fails open, and nobody needs the caller
