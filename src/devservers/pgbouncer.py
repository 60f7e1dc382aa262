"""A private PgBouncer in transaction mode in front of a private PostgreSQL (docs/adr/0035).

For tests and benchmarks that show the application works through a transaction pooler, the
way production runs many API processes against one primary (docs/scaling.md). It listens on
127.0.0.1:`port` only, with its config, pid file and log in `dir`, and serves every database of
the cluster under the same name (a `*` fallback entry), so a database made after it started is
reachable at once.

Authentication mirrors the private cluster's: loopback is trusted, and the roles the cluster
has are listed in the auth file (PgBouncer's `trust` still wants to know the user names).
Production uses `auth_type = scram-sha-256` with an auth file or `auth_query` instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from devservers.postgres import APP_ROLE, OWNER_ROLE, SUPERUSER

_INSTALL_HINT = "install it with: apt-get install pgbouncer"
_STARTUP_SECONDS = 10.0
# PgBouncer refuses to run as root; when we are root it runs as the OS user PostgreSQL runs as.
_OS_USER = "postgres"
# Server connections per (database, role) pair: what the cluster sees however many clients
# there are (docs/scaling.md sizes it).
DEFAULT_POOL_SIZE = 20
DEFAULT_MAX_CLIENTS = 2000


class LocalPgBouncerError(RuntimeError):
    """pgbouncer is missing or did not come up; the message says why."""


class LocalPgBouncer:
    """pgbouncer on 127.0.0.1:`port`, pooling per transaction into PostgreSQL at
    127.0.0.1:`postgres_port`."""

    def __init__(
        self,
        port: int,
        dir: Path,
        postgres_port: int,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        roles: Iterable[str] = (APP_ROLE, OWNER_ROLE, SUPERUSER),
    ) -> None:
        self.port = port
        self.dir = dir.absolute()
        self.postgres_port = postgres_port
        self.pool_size = pool_size
        self.max_clients = max_clients
        self.roles = tuple(roles)

    def url_for(self, direct_url: str) -> str:
        """`direct_url` (a URL of the cluster behind) with PgBouncer's host and port instead."""
        parsed = make_url(direct_url)
        return parsed.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def ensure_running(self) -> None:
        if self._our_pid() is None:
            self._start()

    def stop(self) -> None:
        pid = self._our_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        self._wait_for(lambda: not _alive(pid), "PgBouncer did not stop")

    @property
    def _ini(self) -> Path:
        return self.dir / "pgbouncer.ini"

    @property
    def _pid_file(self) -> Path:
        return self.dir / "pgbouncer.pid"

    @property
    def _log_file(self) -> Path:
        return self.dir / "pgbouncer.log"

    def _config(self) -> str:
        return "\n".join(
            [
                "[databases]",
                f"* = host=127.0.0.1 port={self.postgres_port}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {self.dir / 'users.txt'}",
                f"admin_users = {SUPERUSER}",
                "pool_mode = transaction",
                f"default_pool_size = {self.pool_size}",
                f"max_client_conn = {self.max_clients}",
                # A client waits this long for a server connection, then gets an error rather
                # than hanging (the app's own pool timeout is the first line of defence).
                "query_wait_timeout = 30",
                f"pidfile = {self._pid_file}",
                f"logfile = {self._log_file}",
                "log_connections = 0",
                "log_disconnections = 0",
                "",
            ]
        )

    def _start(self) -> None:
        binary = shutil.which("pgbouncer") or _sbin("pgbouncer")
        if binary is None:
            raise LocalPgBouncerError(f"pgbouncer not found; {_INSTALL_HINT}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ini.write_text(self._config())
        (self.dir / "users.txt").write_text("".join(f'"{role}" ""\n' for role in self.roles))
        argv = [binary, "-d"]
        if os.geteuid() == 0:
            shutil.chown(self.dir, user=_OS_USER, group=_OS_USER)
            for path in self.dir.iterdir():
                shutil.chown(path, user=_OS_USER, group=_OS_USER)
            argv += ["-u", _OS_USER]
        done = subprocess.run(  # noqa: S603 - argv is built here from a fixed program and our paths
            [*argv, str(self._ini)], check=False, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise LocalPgBouncerError(
                f"pgbouncer exited with {done.returncode}: {done.stderr.strip()}\n{self._tail()}"
            )
        self._wait_for(self._answers, "PgBouncer did not start")

    def _answers(self) -> bool:
        """Its admin console answers (not a connection to PostgreSQL: that may be down)."""
        try:
            with psycopg.connect(
                host="127.0.0.1",
                port=self.port,
                user=SUPERUSER,
                dbname="pgbouncer",
                autocommit=True,
                connect_timeout=2,
            ) as console:
                console.execute("SHOW VERSION")
        except psycopg.Error:
            return False
        return True

    def _our_pid(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and self._answers() else None

    def _wait_for(self, condition: Callable[[], bool], failure: str) -> None:
        deadline = time.monotonic() + _STARTUP_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise LocalPgBouncerError(f"{failure} on port {self.port}; log:\n{self._tail()}")
            time.sleep(0.05)

    def _tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self._log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError as error:
            return f"(no log: {error})"


def _sbin(program: str) -> str | None:
    path = Path("/usr/sbin") / program  # Debian installs it outside a normal user's PATH
    return str(path) if path.exists() else None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
