"""A dev server run as a child process of ours: started, awaited until healthy, stopped.

Each fake (`python -m devservers.<name> --port P --parent-pid PID ...`) serves a health URL and
exits when its parent is gone (`exit_with_parent`), so a killed test run leaves no server behind.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Literal, Protocol, Self, TypeVar

import httpx
import uvicorn

STARTUP_SECONDS = 10.0
_SRC = str(Path(__file__).resolve().parents[1])  # the folder holding the devservers package


class _Started:
    """Started by `with`, stopped when it ends."""

    def start(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class ChildServerError(RuntimeError):
    """The server did not come up; the message holds the tail of its log."""


class ChildServer(_Started):
    """`python -m <module> --port <port> --parent-pid <ours> <arguments>` on 127.0.0.1."""

    def __init__(
        self,
        module: str,
        port: int,
        arguments: list[str] | None = None,
        *,
        health_path: str = "/_test/health",
        log_file: Path | None = None,
        error: type[ChildServerError] = ChildServerError,
    ) -> None:
        self.module = module
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.arguments = arguments or []
        self.health_path = health_path
        self.log_file = log_file
        self.error = error  # what a server that does not come up raises
        self._process: subprocess.Popen[bytes] | None = None
        self._own_log: Path | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        if self._process is not None:
            return self.base_url
        if self.log_file is None:
            handle, name = tempfile.mkstemp(prefix=f"reserva-{self.module}-", suffix=".log")
            os.close(handle)
            self._own_log = Path(name)
        log = (self.log_file or self._own_log or Path(os.devnull)).open("ab")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [_SRC, os.environ.get("PYTHONPATH")])),
        }
        command = [sys.executable, "-m", self.module, "--port", str(self.port)]
        command += ["--parent-pid", str(os.getpid()), *self.arguments]
        with log:
            self._process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
                command, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        self._wait_until_up()
        return self.base_url

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._own_log is not None:
            self._own_log.unlink(missing_ok=True)
            self._own_log = None

    def log_tail(self, lines: int = 20) -> str:
        log = self.log_file or self._own_log
        if log is None or not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                code = self._process.returncode
                raise self.error(f"{self.module} exited ({code}):\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + self.health_path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise self.error(f"{self.module} did not answer on port {self.port}")


class Control:
    """Thin calls to a fake's test-only endpoints (no authentication); a failed call raises
    `error`."""

    error: type[Exception] = RuntimeError

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, timeout=30)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise self.error(f"{method} {path}: {response.status_code} {response.text}")
        body: dict[str, Any] = response.json()
        return body


C = TypeVar("C", bound=Control)


class ChildFake(_Started, Generic[C]):
    """A fake run as a `ChildServer`, driven through its `control` (usable again after a
    restart: `stop` closes it and opens a new one)."""

    def __init__(self, server: ChildServer, control: Callable[[str], C]) -> None:
        self.server = server
        self.port = server.port
        self.base_url = server.base_url
        self._control = control
        self.control = control(self.base_url)

    @property
    def running(self) -> bool:
        return self.server.running

    def start(self) -> str:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.control.close()
        self.control = self._control(self.base_url)


class _Stoppable(Protocol):
    should_exit: bool


def exit_with_parent(parent_pid: int | None, server: _Stoppable) -> None:
    """In the child: stop `server` (a uvicorn.Server) once `parent_pid` is no longer our parent."""
    if parent_pid is None:
        return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        server.should_exit = True

    threading.Thread(target=watch, daemon=True).start()


def child_parser(prog: str, description: str | None = None) -> argparse.ArgumentParser:
    """A fake's command line: `--host`, `--port` and `--parent-pid`, as `ChildServer` passes
    them; the fake adds its own options."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    return parser


def child_uvicorn(
    app: Any, args: argparse.Namespace, lifespan: Literal["auto", "on", "off"] = "auto"
) -> uvicorn.Server:
    """The quiet uvicorn server a fake runs `app` on, at `args.host`:`args.port`, stopping
    when `args.parent_pid` is gone; `server.run()` serves."""
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level="warning", access_log=False,
        lifespan=lifespan,
    )  # fmt: skip
    server = uvicorn.Server(config)
    exit_with_parent(args.parent_pid, server)
    return server
