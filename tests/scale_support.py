"""Several API processes and a job worker against one database and Redis (issue 12 §6,
docs/scaling.md): starting them, tokens every process honours, and a client whose requests
alternate between the processes, as behind a round-robin load balancer. Imported by bare name,
like `api_test_support`."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import psycopg
from sqlalchemy.engine import make_url

from adapters.postgis.database import role_defaults_sql
from api_test_support import TokenTable
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal, Role
from devservers.net import free_port
from devservers.pgbouncer import LocalPgBouncer
from devservers.postgres import APP_ROLE, LocalDatabase, LocalPostgres
from postgres_support import migrated_database
from process_support import wait_until_answering

TESTS = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(TESTS), "src")
STOP_SECONDS = 30


class SelfDescribingTokens(TokenTable):
    """Test tokens that carry their principal (unsigned: tests only), so that a token issued in
    the test process authenticates in every API process, with no table to share."""

    def issue(self, principal: Principal) -> dict[str, str]:
        described = {
            "user": str(principal.user_id),
            "roles": sorted(role.value for role in principal.roles),
            "providers": sorted(str(p) for p in principal.provider_ids),
            "mfa": principal.mfa,
        }
        token = base64.urlsafe_b64encode(json.dumps(described).encode()).decode()
        return {"Authorization": f"Bearer scale-{token}"}

    async def __call__(self, token: str) -> Principal | None:
        if not token.startswith("scale-"):
            return None
        described = json.loads(base64.urlsafe_b64decode(token.removeprefix("scale-")))
        return Principal(
            user_id=UserId(uuid.UUID(described["user"])),
            roles=frozenset(Role(role) for role in described["roles"]),
            provider_ids=frozenset(ProviderId(uuid.UUID(p)) for p in described["providers"]),
            mfa=described["mfa"],
        )

    def user_id(self, headers: dict[str, str]) -> str:
        token = headers["Authorization"].removeprefix("Bearer scale-")
        return str(json.loads(base64.urlsafe_b64decode(token))["user"])


class RoundRobin(httpx.AsyncBaseTransport):
    """Sends each request to the next of `origins` in turn; remembers which got which."""

    def __init__(self, origins: Sequence[str]) -> None:
        self._origins = itertools.cycle([httpx.URL(origin) for origin in origins])
        self._transport = httpx.AsyncHTTPTransport()
        self.served: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = next(self._origins)
        request.url = request.url.copy_with(host=origin.host, port=origin.port)
        self.served.append(f"{origin.host}:{origin.port}")
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._transport.aclose()


def _environment() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": os.pathsep.join([SRC, TESTS])}


@contextmanager
def api_processes(count: int, settings: dict[str, Any]) -> Iterator[list[str]]:
    """`count` API processes (tests/scale_process.py) with `settings`: their base URLs."""
    command = [sys.executable, os.path.join(TESTS, "scale_process.py"), json.dumps(settings)]
    started = [
        subprocess.Popen(command, env=_environment(), stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    try:
        urls = []
        for process in started:
            assert process.stdout is not None
            urls.append(json.loads(process.stdout.readline())["url"])
        for url in urls:
            wait_until_answering(f"{url}/providers")
        yield urls
    finally:
        _stop(started)


@contextmanager
def worker_process(environment: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`reserva worker` with the settings in `environment` (as production starts it)."""
    command = [sys.executable, "-c", "from entrypoints.cli.main import app; app()", "worker"]
    # Its log lines go to the test's captured stderr (a pipe nobody read could fill and stall it).
    process = subprocess.Popen(
        command, env=_environment() | environment, stdout=subprocess.DEVNULL, text=True
    )
    try:
        yield process
    finally:
        _stop([process])


def _stop(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@attrs.frozen
class PooledDatabase:
    """A migrated database behind a private PgBouncer in transaction mode."""

    direct: LocalDatabase  # straight to PostgreSQL (migrations, the worker's LISTEN, checks)
    app_url: str  # the app role through PgBouncer
    bouncer: LocalPgBouncer


def give_session_defaults(database: LocalDatabase, role: str = APP_ROLE) -> None:
    """What production runs once per database behind a transaction pooler (docs/scaling.md)."""
    name = make_url(database.superuser_url).database
    assert name is not None
    with psycopg.connect(_libpq(database.superuser_url), autocommit=True) as connection:
        for statement in role_defaults_sql(role, name):
            connection.execute(statement.encode())


@contextmanager
def pooled_database(
    postgres_server: LocalPostgres, name: str, *, pool_size: int
) -> Iterator[PooledDatabase]:
    """A database `name` migrated to head, the app role's session defaults set, and a PgBouncer
    of `pool_size` server connections per (database, role) in front of the server."""
    direct = migrated_database(postgres_server, name)
    give_session_defaults(direct)
    workdir = Path(tempfile.mkdtemp(prefix="reserva-pgbouncer-"))
    bouncer = LocalPgBouncer(free_port(), workdir, postgres_server.port, pool_size=pool_size)
    try:
        bouncer.ensure_running()
        app_url = bouncer.url_for(direct.app_url)
        yield PooledDatabase(direct=direct, app_url=app_url, bouncer=bouncer)
    finally:
        bouncer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def pooled_settings(pooled: PooledDatabase, redis_url: str, kek_file: Path) -> dict[str, str]:
    """The settings of a process of the service behind the pooler, as its environment."""
    return {
        "DATABASE_URL": pooled.app_url,
        "DATABASE_TRANSACTION_POOLER": "true",
        "DATABASE_DIRECT_URL": pooled.direct.app_url,
        "REDIS_URL": redis_url,
        "KEK_FILE": str(kek_file),
    }


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
