"""`reserva serve --workers N` hands uvicorn's supervisor a configuration that each worker
process unpickles and loads for itself: every one of them must refuse TLS 1.2 (ADR 37).

A tiny ASGI app that answers with its pid stands in for the API here: what is under test is
the server configuration (entrypoints.http.server), which `serve` builds the same way."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from devservers.net import free_port
from entrypoints.http.server import TlsFiles
from tls_support import client_context, handshake, self_signed

WORKERS = 2
STARTUP_SECONDS = 60
SUPERVISOR = """
import sys
from pathlib import Path
from uvicorn.supervisors import Multiprocess
from entrypoints.http.server import TlsFiles, server_config

port, cert, key = sys.argv[1:4]
tls = TlsFiles(cert_file=Path(cert), key_file=Path(key))
config = server_config(
    "tls_support:pid_app", host="127.0.0.1", port=int(port), workers=2, tls=tls,
    log_level="warning",
)
Multiprocess(config, sockets=[config.bind_socket()]).run()
"""


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, TlsFiles]]:
    certificate = self_signed(tmp_path_factory.mktemp("tls"))
    port = free_port()
    argv = [str(port), str(certificate.cert_file), str(certificate.key_file)]
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    server = subprocess.Popen([sys.executable, "-c", SUPERVISOR, *argv], env=env)
    try:
        yield port, certificate
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        finally:
            server.kill()


def _get(port: int, trust: ssl.SSLContext) -> str | None:
    try:
        with httpx.Client(verify=trust) as client:  # a connection of its own
            return client.get(f"https://127.0.0.1:{port}/").text
    except httpx.TransportError:
        return None  # not listening yet


def _pids_answering(port: int, trust: ssl.SSLContext) -> set[str]:
    """The worker pids seen over requests in flight together, until all WORKERS answered."""
    seen: set[str] = set()
    deadline = time.monotonic() + STARTUP_SECONDS
    with ThreadPoolExecutor(max_workers=2 * WORKERS) as pool:
        while len(seen) < WORKERS and time.monotonic() < deadline:
            answers = pool.map(lambda _: _get(port, trust), range(2 * WORKERS))
            seen |= {pid for pid in answers if pid is not None}
            time.sleep(0.1)
    return seen


def test_every_worker_speaks_tls_1_3_only(workers: tuple[int, TlsFiles]) -> None:
    port, certificate = workers
    trust = client_context(certificate)
    pids = _pids_answering(port, trust)
    at_most_1_2 = client_context(certificate, maximum=ssl.TLSVersion.TLSv1_2)
    refusals = 0
    for _ in range(10):  # new connections, spread over the workers by the kernel
        try:
            handshake(port, at_most_1_2)
        except ssl.SSLError:
            refusals += 1

    assert len(pids) == WORKERS
    assert handshake(port, trust) == "TLSv1.3"
    assert refusals == 10
