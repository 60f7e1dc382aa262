"""What the benchmark runs against: private PostGIS and Redis, and the API in its own process."""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, LiteralString

import attrs
import psycopg

from adapters.postgis import migrate
from adapters.security.keyring import FileKeyStore
from devservers.net import free_port
from devservers.postgres import LocalPostgres
from devservers.redis import LocalRedis

BENCH_DIR = Path(__file__).resolve().parent
_READY_SECONDS = 60.0
UNREFUSING_RATE_LIMIT = 10_000_000  # requests a minute: the most settings accept
_STOP_SECONDS = 15.0


class MissingTool(RuntimeError):
    """A program the benchmark needs is not installed; the message says how to get it."""


def require_tools() -> dict[str, str]:
    """Paths of wrk and pgbench, or MissingTool naming the package to install."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise MissingTool("wrk not found on PATH: apt-get install wrk")
    pgbench = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), key=_major)
    if not pgbench:
        raise MissingTool("pgbench not found: apt-get install postgresql-client (or the server)")
    if shutil.which("redis-server") is None:
        raise MissingTool("redis-server not found on PATH: apt-get install redis-server")
    return {"wrk": wrk, "pgbench": str(pgbench[-1])}


def _major(path: Path) -> int:
    return int(path.parent.parent.name.split(".")[0])


def raise_open_files_limit(wanted: int = 65_536) -> int:
    """1,000 open connections need more descriptors than the usual 1,024; children inherit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------- databases


@attrs.frozen(kw_only=True)
class Databases:
    postgres: LocalPostgres
    redis: LocalRedis
    database_url: str  # postgresql+psycopg://...
    owner_url: str  # postgresql://... as the tables' owner (migrations; exempt from RLS)
    kek_file: Path  # the key-encryption key that seals secrets at rest

    @property
    def libpq_url(self) -> str:
        return self.database_url.replace("postgresql+psycopg://", "postgresql://")

    @property
    def postmaster_pid(self) -> int:
        return int((self.postgres.data_dir / "postmaster.pid").read_text().split()[0])

    @property
    def redis_pid(self) -> int:
        return int((self.redis.dir / "redis.pid").read_text())


@contextlib.contextmanager
def databases(workdir: Path, *, durable: bool) -> Iterator[Databases]:
    """A migrated, empty PostGIS database and a Redis server, stopped on the way out."""
    postgres = LocalPostgres(workdir / "pg", free_port(), durable=durable)
    redis = LocalRedis(free_port(), workdir / "redis")
    try:
        database = postgres.ensure_running()
        redis.ensure_running()
        migrate.upgrade(database.migrator_url)
        kek_file = workdir / "kek.json"
        FileKeyStore.create(kek_file)
        yield Databases(
            postgres=postgres,
            redis=redis,
            database_url=database.app_url,
            owner_url=database.migrator_url.replace("postgresql+psycopg://", "postgresql://"),
            kek_file=kek_file,
        )
    finally:
        with contextlib.suppress(Exception):
            redis.stop()
        postgres.stop()


# ---------------------------------------------------------------- the API process


APP = "server:app"
STATELESS = "server:stateless"  # APP without the LiveSessions check of access tokens
BASELINE = "server:baseline"
_READY_PATHS = {
    APP: "/search?lat=0&lng=0&radius_m=1",
    STATELESS: "/search?lat=0&lng=0&radius_m=1",
    BASELINE: "/ping",
}


@attrs.frozen(kw_only=True)
class ServerKind:
    name: str
    argv: tuple[str, ...]  # serving APP; without host and port
    host_port: tuple[str, str]  # the option names for host and port

    def command(self, port: int, target: str) -> list[str]:
        host_option, port_option = self.host_port
        argv = [target if arg == APP else arg for arg in self.argv]
        return [*argv, host_option, "127.0.0.1", port_option, str(port)]


def server_kinds(workers: int = 1) -> list[ServerKind]:
    """Every server the machine has, best first; each serves bench/server.py with `workers`
    processes (uvicorn's and granian's own process managers share one listening socket)."""
    python = sys.executable
    uvicorn = (
        *(python, "-m", "uvicorn", "--factory", "--no-server-header"),
        *("--app-dir", str(BENCH_DIR), APP),
    )
    # Idle keep-alive connections outlive a user's pause between requests (uvicorn closes them
    # after 5 s by default), so 1,000 paced connections stay open as the scenario says.
    quiet = ("--no-access-log", "--log-level", "warning", "--timeout-keep-alive", "75")
    processes = ("--workers", str(workers)) if workers > 1 else ()
    suffix = f" x{workers} workers" if workers > 1 else ""
    kinds = []
    if _installed("uvloop") and _installed("httptools"):
        kinds.append(
            ServerKind(
                name=f"uvicorn (uvloop, httptools){suffix}",
                argv=(*uvicorn, "--loop", "uvloop", "--http", "httptools", *quiet, *processes),
                host_port=("--host", "--port"),
            )
        )
    kinds.append(
        ServerKind(
            name=f"uvicorn (asyncio, h11){suffix}",
            argv=(*uvicorn, "--loop", "asyncio", "--http", "h11", *quiet, *processes),
            host_port=("--host", "--port"),
        )
    )
    granian = Path(python).with_name("granian")
    if granian.exists():
        kinds.append(
            ServerKind(
                name=f"granian{suffix}",
                argv=(
                    str(granian),
                    *("--interface", "asgi", "--workers", str(workers), "--factory"),
                    *("--backlog", "2048", "--working-dir", str(BENCH_DIR)),
                    *("--log-level", "warning"),
                    APP,
                ),
                host_port=("--host", "--port"),
            )
        )
    return kinds


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@attrs.frozen(kw_only=True)
class RunningServer:
    kind: ServerKind
    process: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:port


@contextlib.contextmanager
def api_server(
    kind: ServerKind, dbs: Databases, log: Path, target: str = APP
) -> Iterator[RunningServer]:
    """The API in its own process (its own session, so stopping it stops its workers too)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": dbs.database_url,
        "REDIS_URL": dbs.redis.url,
        "KEK_FILE": str(dbs.kek_file),
        # All load comes from one IP and a few users: a limit this high still costs its Redis
        # round trip on every request, as in production, but never refuses one.
        "RATE_LIMIT_REQUESTS": str(UNREFUSING_RATE_LIMIT),
    }
    with log.open("ab") as sink:
        process = subprocess.Popen(
            kind.command(port, target), env=env, stdout=sink, stderr=sink, start_new_session=True
        )
    server = RunningServer(kind=kind, process=process, url=f"http://127.0.0.1:{port}")
    try:
        _wait_until_ready(server, _READY_PATHS[target], log)
        yield server
    finally:
        _stop(process)


def _wait_until_ready(server: RunningServer, path: str, log: Path) -> None:
    probe = server.url + path
    deadline = time.monotonic() + _READY_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.kind.name} exited at startup:\n{_tail(log)}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError),
            urllib.request.urlopen(probe, timeout=2) as answer,  # noqa: S310 - our own URL
        ):
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{server.kind.name} did not answer within {_READY_SECONDS} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's own process group (it and its workers), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# ---------------------------------------------------------------- what the figures ran on


def machine(dbs: Databases, tools: dict[str, str] | None = None) -> dict[str, object]:
    """The machine, the database and the packages a run measured; `tools` adds wrk's version."""
    with psycopg.connect(dbs.libpq_url) as conn:
        pg_version = _scalar(conn, "SHOW server_version")
        postgis = _scalar(conn, "SELECT postgis_lib_version()")
        settings = {
            "fsync": _scalar(conn, "SHOW fsync"),
            "synchronous_commit": _scalar(conn, "SHOW synchronous_commit"),
            "shared_buffers": _scalar(conn, "SHOW shared_buffers"),
            "max_connections": _scalar(conn, "SHOW max_connections"),
        }
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "ram_gib": round(_mem_total_kib() / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg_version,
        "postgis": postgis,
        "postgresql_settings": settings,
        "packages": {name: _version(name) for name in _PACKAGES},
    } | ({"wrk": _first_line([tools["wrk"], "--version"])} if tools else {})


_PACKAGES = (
    "litestar",
    "uvicorn",
    "uvloop",
    "httptools",
    "granian",
    "sqlalchemy",
    "psycopg",
    "procrastinate",
    "sendgrid",
    "jinja2",
)


def _scalar(conn: psycopg.Connection[tuple[Any, ...]], query: LiteralString) -> str:
    row = conn.execute(query).fetchone()
    return str(row[0]) if row else ""


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _mem_total_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _first_line(argv: Sequence[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).strip().splitlines()[0]


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
