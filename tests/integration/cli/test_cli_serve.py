"""`reserva serve` as a developer runs it: nothing configured, everything started for them."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx
import pytest

from devservers.messaging_fake import MessagingControl
from devservers.net import free_port
from devservers.postgres import LocalPostgres
from devservers.redis import LocalRedis
from devservers.stripe_fake import StripeControl
from entrypoints.cli.environment import LOCAL_STRIPE_KEYS
from process_support import wait_until_answering

STARTUP_SECONDS = 120


def _free_ports() -> dict[str, int]:
    names = ("pg", "redis", "http", "stripe", "messaging", "cloudinary", "ga4")
    return {name: free_port() for name in names}


@attrs.frozen
class Served:
    """One `reserva serve` as it starts by default (one API process per core), shared by the
    tests of this module: starting one costs ~25 s of the suite's two cores."""

    url: str
    ports: dict[str, int]
    data: Path  # its RESERVA_DATA_DIR
    server: subprocess.Popen[bytes]


@contextlib.contextmanager
def _serve(
    tmp_path: Path, ports: dict[str, int], *options: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A `reserva serve` process with its own data dir; stopped, with its servers, afterwards."""
    configured = ("DATABASE_URL", "REDIS_URL", "KEK_FILE", "CLOUDINARY_URL", "PUBLIC_API_URL")
    providers = ("STRIPE_", "SENDGRID_", "WHATSAPP_", "GA4_")
    env = {
        k: v for k, v in os.environ.items() if k not in configured and not k.startswith(providers)
    }
    env |= {
        "RESERVA_DATA_DIR": str(tmp_path / "data"),
        "RESERVA_PG_PORT": str(ports["pg"]),
        "RESERVA_REDIS_PORT": str(ports["redis"]),
        "RESERVA_STRIPE_PORT": str(ports["stripe"]),
        "RESERVA_MESSAGING_PORT": str(ports["messaging"]),
        "RESERVA_CLOUDINARY_PORT": str(ports["cloudinary"]),
        "RESERVA_GA4_PORT": str(ports["ga4"]),
    }
    env.pop("RESERVA_WORKERS", None)
    command = [str(Path(sys.executable).with_name("reserva")), "serve"]
    options = ("--port", str(ports["http"]), "--demo-providers", "3", *options)
    server = subprocess.Popen([*command, *options], env=env, cwd=tmp_path)
    try:
        yield server
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        finally:
            server.kill()
            LocalPostgres(tmp_path / "data" / "pg", ports["pg"]).stop()
            LocalRedis(ports["redis"], tmp_path / "data" / "redis").stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home, ports = tmp_path_factory.mktemp("serve"), _free_ports()
    with _serve(home, ports) as server:
        url = f"http://127.0.0.1:{ports['http']}"
        wait_until_answering(f"{url}/providers", STARTUP_SECONDS)
        yield Served(url=url, ports=ports, data=home / "data", server=server)


def test_serve_brings_up_the_api_with_a_demo_catalog(served: Served) -> None:
    serving = served.url
    providers = httpx.get(f"{serving}/providers")
    key_file = served.data / "kek.json"
    docs = httpx.get(f"{serving}/docs")
    unauthenticated = httpx.post(f"{serving}/bookings", json={})
    policies = [httpx.get(f"{serving}/privacy/policies/{kind}") for kind in ("privacy", "cookies")]

    assert providers.status_code == 200
    assert [policy.status_code for policy in policies] == [200, 200]  # consent can be given
    assert len(providers.json()["items"]) == 3
    assert docs.status_code == 200
    assert unauthenticated.status_code == 401
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # the local KEK, owner-only


def test_serve_runs_a_fake_stripe_whose_webhooks_reach_the_api(served: Served) -> None:
    """Zero config: the fake Stripe's signed events are verified by the API (same secret)."""
    serving, ports = served.url, served.ports
    stripe = StripeControl(f"http://127.0.0.1:{ports['stripe']}")
    try:
        customer = httpx.post(
            f"{stripe.api_base}/v1/customers",
            auth=(LOCAL_STRIPE_KEYS["STRIPE_API_KEY"], ""),
            data={"metadata[purpose]": "serve test"},
        )
        assert stripe.flush_webhooks() == 0
        deliveries = [d for e in stripe.events() for d in e["deliveries"]]
    finally:
        stripe.close()
    forged = httpx.post(
        f"{serving}/webhooks/stripe",
        content=b'{"id": "evt_1"}',
        headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"},
    )

    assert customer.status_code == 200
    assert deliveries
    assert all(d["url"] == f"{serving}/webhooks/stripe" for d in deliveries)
    assert [d["status"] for d in deliveries] == [200] * len(deliveries)
    assert forged.status_code == 400
    assert forged.json()["type"] == "urn:reserva:problem:bad-signature"
    assert (served.data / "stripe" / "stripe.log").exists()


def test_serve_sends_mail_to_the_local_sendgrid_fake_through_its_worker(served: Served) -> None:
    """Zero config: registering mails a verification link, sent by the in-process worker
    through the SendGrid SDK to the messaging fake; the fake's signed events reach the API."""
    serving, ports = served.url, served.ports
    email = "newcomer@reserva.test"
    registered = httpx.post(
        f"{serving}/auth/register",
        json={"email": email, "password": "a long enough passphrase 1"},
    )
    fake = MessagingControl(f"http://127.0.0.1:{ports['messaging']}")
    try:
        deadline = time.monotonic() + 30
        while not (mails := [m for m in fake.mails() if email in m.to]):
            assert time.monotonic() < deadline, "no verification mail left"
            time.sleep(0.2)
        fired = fake.sendgrid_event(mails[0].x_message_id, "delivered")
    finally:
        fake.close()
    forged = httpx.post(
        f"{serving}/webhooks/sendgrid",
        content=b'[{"event": "delivered"}]',
        headers={"Content-Type": "application/json"},
    )

    assert registered.status_code == 202
    assert fired.delivery is not None
    assert fired.delivery["status"] == 200
    assert forged.status_code == 401
    assert (served.data / "messaging" / "state.json").exists()


def _children(pid: int) -> list[int]:
    children = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = status.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:  # the field after the state is the parent's pid
                children.append(int(status.parent.name))
    return children


def _listening_socket(port: int) -> str:
    """`socket:[inode]`, as /proc/<pid>/fd shows the TCP socket listening on `port`."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
            return f"socket:[{fields[9]}]"
    raise AssertionError(f"nothing listens on port {port}")


def _holds(pid: int, target: str) -> bool:
    with contextlib.suppress(OSError):
        return any(os.readlink(fd) == target for fd in Path(f"/proc/{pid}/fd").iterdir())
    return False


def _api_processes(server: subprocess.Popen[bytes], port: int, workers: int) -> list[int]:
    """The children of `serve` accepting on its listening socket, once `workers` of them do."""
    listening = _listening_socket(port)
    deadline = time.monotonic() + STARTUP_SECONDS
    while len(api := [c for c in _children(server.pid) if _holds(c, listening)]) < workers:
        assert time.monotonic() < deadline, f"{len(api)} API processes"
        time.sleep(0.5)
    return api


def test_serve_answers_from_one_api_process_per_core_by_default(served: Served) -> None:
    """As many child processes of `reserva serve` as cores accept on the API's one listening
    socket (one more runs the jobs)."""
    workers = os.cpu_count() or 1

    api = _api_processes(served.server, served.ports["http"], workers)
    answers = [httpx.get(f"{served.url}/providers").status_code for _ in range(20)]

    assert len(api) == workers
    assert answers == [200] * 20


def test_serve_answers_from_as_many_api_processes_as_asked(tmp_path: Path) -> None:
    """`--workers 3`: three child processes accept on the one listening socket."""
    ports = _free_ports()
    with _serve(tmp_path, ports, "--workers", "3") as server:
        base_url = f"http://127.0.0.1:{ports['http']}"
        providers = wait_until_answering(f"{base_url}/providers", STARTUP_SECONDS)
        api = _api_processes(server, ports["http"], 3)
        answers = [httpx.get(f"{base_url}/providers").status_code for _ in range(20)]

    assert providers.status_code == 200
    assert len(api) == 3
    assert answers == [200] * 20
