"""A private, memory-only Redis server for development and tests (production sets REDIS_URL)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

_INSTALL_HINT = "install it with: apt-get install redis-server"
_STARTUP_SECONDS = 10.0


class LocalRedisError(RuntimeError):
    """redis-server is missing or did not come up; the message says why."""


class LocalRedis:
    """redis-server on 127.0.0.1:`port`, with its pid file and log in `dir`; nothing persisted."""

    def __init__(self, port: int, dir: Path) -> None:
        self.port = port
        self.dir = dir.absolute()
        self.url = f"redis://127.0.0.1:{port}/0"

    def ensure_running(self) -> str:
        if self._our_pid() is None:
            self._start()
        return self.url

    def stop(self) -> None:
        pid = self._our_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        # Wait for the process itself, not only its pid file: it still writes its last log
        # lines after deleting that, and the caller may be removing `dir` meanwhile.
        self._wait_for(lambda: not _alive(pid), "Redis did not stop")

    def is_running(self) -> bool:
        """Our server (the pid file's) answers on the port; `reserva dev stop` asks."""
        return self._our_pid() is not None

    @property
    def _pid_file(self) -> Path:
        return self.dir / "redis.pid"

    @property
    def _log_file(self) -> Path:
        return self.dir / "redis.log"

    def _start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise LocalRedisError(f"redis-server not found on PATH; {_INSTALL_HINT}")
        self.dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(  # noqa: S603 - argv is built here from a fixed program and our paths
            [
                server,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
                *("--daemonize", "yes", "--pidfile", str(self._pid_file)),
                *("--dir", str(self.dir), "--logfile", str(self._log_file)),
            ],
            check=True,
        )
        # redis-server daemonizes before it binds, so readiness has to be polled.
        self._wait_for(lambda: self._our_pid() is not None, "Redis did not start")

    def _our_pid(self) -> int | None:
        """The pid of the server answering on our port, if it is the one our pid file names.

        Comparing pids keeps us from adopting (or stopping) somebody else's Redis on that port.
        """
        # No retries: a refused connection is an answer here, and retrying costs seconds.
        probe = redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        try:
            pid = int(self._pid_file.read_text())
            with probe:
                serving_pid = probe.info("server")["process_id"]
        except (OSError, ValueError, redis.RedisError):
            return None
        return pid if serving_pid == pid else None

    def _wait_for(self, condition: Callable[[], bool], failure: str) -> None:
        deadline = time.monotonic() + _STARTUP_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise LocalRedisError(f"{failure} on port {self.port}; log:\n{self._log_tail()}")
            time.sleep(0.05)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self._log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError as error:
            return f"(no log: {error})"


def _alive(pid: int) -> bool:
    """Running, not gone and not a zombie that an init without reaping would keep around."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # the state follows the command's ")"
