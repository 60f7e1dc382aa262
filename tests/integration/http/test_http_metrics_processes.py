"""/metrics under `reserva serve`'s several processes (docs/adr/0033): whichever API process
answers a scrape, it reports every process's samples (prometheus-client's multiprocess mode,
PROMETHEUS_MULTIPROC_DIR set up by serve)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.postgis import migrate
from adapters.postgis.database import POOL_SIZE
from devservers.net import free_port
from devservers.postgres import LocalPostgres
from process_support import wait_until_answering

TESTS = Path(__file__).parents[2]
API_PROCESSES = 2
STARTUP_SECONDS = 90


@pytest.fixture(scope="module")
def served(postgres_server: LocalPostgres, redis_url: str, kek_file: Path) -> Iterator[str]:
    database = postgres_server.create_database("reserva_metrics_processes")
    migrate.upgrade(database.migrator_url)
    port = free_port()
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)]),
        "DATABASE_URL": database.app_url,
        "REDIS_URL": redis_url,
        "KEK_FILE": str(kek_file),
        "METRICS_PUBLIC": "true",
        "ARGON2_MEMORY_KIB": "8",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # serve makes its own
    command = [sys.executable, str(TESTS / "serve_processes.py"), str(port), str(API_PROCESSES)]
    server = subprocess.Popen(command, env=env)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base_url}/health/live")
        yield base_url
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        finally:
            server.kill()


def _scrape(base_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with httpx.Client() as client:  # a connection of its own: any process may answer
        text = client.get(f"{base_url}/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _pool_size(found: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    return found.get(("reserva_db_pool_size", frozenset({("pool", "main")})), 0)


def test_any_process_answers_a_scrape_with_the_samples_of_all(served: str) -> None:
    # Every API process's pools, summed: one process alone can only say POOL_SIZE. The
    # processes start one after the other, so wait until all have.
    deadline = time.monotonic() + STARTUP_SECONDS
    while _pool_size(before := _scrape(served)) < API_PROCESSES * POOL_SIZE:
        assert time.monotonic() < deadline, f"pools seen: {_pool_size(before)}"
        time.sleep(0.2)
    live = frozenset({"method": "GET", "route": "/health/live", "status": "200"}.items())
    counted_before = before.get(("reserva_http_requests_total", live), 0)
    for _ in range(30):
        with httpx.Client() as client:  # a new connection each: the processes share them
            assert client.get(f"{served}/health/live").status_code == 200

    scrapes = [_scrape(served) for _ in range(4)]

    for found in scrapes:
        assert found[("reserva_http_requests_total", live)] == counted_before + 30
        assert _pool_size(found) == API_PROCESSES * POOL_SIZE
