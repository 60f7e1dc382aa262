"""What the edge costs (docs/adr/0037, docs/benchmarks.md "The edge"): compression of a large
JSON answer, the offline docs page's weight, and TLS 1.3 against plain HTTP.

    PYTHONPATH=src:bench python bench/edge.py [--requests 300]

Starts a throwaway PostGIS + Redis (bench/stack.py) and the real API twice in processes of
their own, configured by entrypoints.http.server as `reserva serve` configures it: once plain,
once with a self-signed certificate (made here, TLS 1.3 only). One client, one request at a
time: these are latencies of one request, not throughput.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import brotli
import httpx
from stack import Databases, databases, machine

from devservers.net import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tls_support import client_context, self_signed  # the tests' certificate maker

SERVER = """
import sys
from pathlib import Path
import uvicorn
from entrypoints.asgi import FACTORY
from entrypoints.http.server import TlsFiles, server_config

port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tls = TlsFiles(cert_file=Path(cert), key_file=Path(key)) if cert else None
uvicorn.Server(
    server_config(FACTORY, host="127.0.0.1", port=port, factory=True, tls=tls, log_level="warning")
).run()
"""
LARGE_JSON = "/openapi.json"  # public, large (the whole API), answered from memory


@contextlib.contextmanager
def api(dbs: Databases, tls_files: tuple[str, str] | None) -> Iterator[str]:
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": dbs.database_url,
        "REDIS_URL": dbs.redis.url,
        "KEK_FILE": str(dbs.kek_file),
        "RATE_LIMIT_REQUESTS": "10000000",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    cert, key = tls_files or ("", "")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), cert, key], env=env, start_new_session=True
    )
    url = f"{'https' if tls_files else 'http'}://127.0.0.1:{port}"
    try:
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def _wait(url: str, verify: ssl.SSLContext | bool) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + LARGE_JSON, verify=verify, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _timed(requests: int, call: Callable[[], httpx.Response]) -> dict[str, float]:
    call()  # warm: the first answer renders and caches the document
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        call().raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
    }


def compression(url: str, requests: int) -> list[dict[str, object]]:
    rows = []
    for accepted in ("identity", "gzip", "br"):
        with httpx.Client(base_url=url, headers={"Accept-Encoding": accepted}) as client:
            answer = client.get(LARGE_JSON)
            rows.append(
                {
                    "accept_encoding": accepted,
                    "content_encoding": answer.headers.get("content-encoding", "-"),
                    "bytes_on_the_wire": answer.num_bytes_downloaded,
                    "json_bytes": len(answer.content),
                    **_timed(requests, lambda client=client: client.get(LARGE_JSON)),
                }
            )
    return rows


def levels(url: str, rounds: int = 30) -> list[dict[str, object]]:
    """CPU per compression of the large answer at the levels considered, in this process."""
    document = httpx.get(url + LARGE_JSON).content
    coders: dict[str, Callable[[], bytes]] = {
        **{f"gzip {n}": (lambda n=n: gzip.compress(document, n)) for n in (9, 6, 1)},
        **{f"br {q}": (lambda q=q: brotli.compress(document, quality=q)) for q in (5, 4, 3)},
    }
    rows = []
    for name, coder in coders.items():
        start = time.perf_counter()
        for _ in range(rounds):
            compressed = coder()
        per_call = (time.perf_counter() - start) / rounds * 1000
        rows.append({"coder": name, "ms": round(per_call, 2), "bytes": len(compressed)})
    return rows


def docs_weight(url: str) -> list[dict[str, object]]:
    rows = []
    with httpx.Client(base_url=url) as client:
        page = client.get("/docs").text
        assets = [part.split('"')[0] for part in page.split('="/docs/assets/')[1:]]
        for accepted in ("identity", "br"):
            total = 0
            for asset in assets:
                answer = client.get(f"/docs/assets/{asset}", headers={"Accept-Encoding": accepted})
                total += answer.num_bytes_downloaded
            rows.append({"accept_encoding": accepted, "files": len(assets), "bytes": total})
    return rows


def transport(url: str, verify: ssl.SSLContext, requests: int) -> dict[str, object]:
    """One small request over a kept-alive connection, and one on a new connection each time
    (TCP + TLS handshake included). Both clients get the same prebuilt context: building one
    (loading CA files) would otherwise dominate the plain-HTTP figure."""
    path = "/.well-known/jwks.json"  # public, small, no database

    with httpx.Client(base_url=url, verify=verify) as client:
        kept = _timed(requests, lambda: client.get(path))

    def fresh() -> httpx.Response:
        with httpx.Client(base_url=url, verify=verify) as client:
            return client.get(path)

    new = _timed(requests // 3, fresh)
    return {"kept_alive": kept, "new_connection": new}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reserva-bench-edge-") as folder:
        workdir = Path(folder)
        certificate = self_signed(workdir / "tls")
        trust = client_context(certificate)
        with databases(workdir, durable=False) as dbs:
            print("machine:", machine(dbs))
            with api(dbs, None) as plain:
                _wait(plain, True)
                print("compression of", LARGE_JSON)
                for row in compression(plain, args.requests):
                    print("  ", row)
                print("CPU per compression of it (the API uses br 4, gzip 6)")
                for row in levels(plain):
                    print("  ", row)
                print("the /docs page's assets (page itself excluded)")
                for row in docs_weight(plain):
                    print("  ", row)
                print("plain HTTP:", transport(plain, trust, args.requests))
            files = (str(certificate.cert_file), str(certificate.key_file))
            with api(dbs, files) as tls:
                _wait(tls, trust)
                print("TLS 1.3:   ", transport(tls, trust, args.requests))


if __name__ == "__main__":
    main()
