"""What observing a request costs (issue 12, docs/adr/0033), and what a scrape costs.

    PYTHONPATH=src:bench .venv/bin/python bench/observability.py [--requests 3000] [--rounds 4]

Starts private PostGIS and Redis (migrated), builds the production app once, and in the same
process, in alternating rounds (alternating evens out drift on a shared machine):

1. `GET /health/live` (no I/O: the framework and our wrappers only) and `GET /providers` (one
   database read, the rate limiter's Redis lease), `--requests` sequential requests per round
   through the ASGI interface (httpx's ASGITransport: no sockets), with the observation (request
   id, structlog binding, counter + histogram per route) and without it (the same app with its
   ASGI handler unwrapped); microseconds per request and the difference.
2. `GET /metrics` with the database's operational state read (job queues, outbox, webhooks):
   milliseconds per scrape.
3. The observation alone around an ASGI app that only answers: CPU microseconds per request
   (process time, so that other load on a shared machine does not count), with and without.

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar
from stack import databases, machine

from entrypoints.container import build_container, http_services
from entrypoints.http.app import create_app
from entrypoints.http.observability import RequestObservation
from entrypoints.settings import Settings

PATHS = ("/health/live", "/providers")


async def _per_request_us(app: Litestar, path: str, requests: int) -> float:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(20):  # warm: caches, pools, leases
            (await client.get(path)).raise_for_status()
        started = time.perf_counter()
        for _ in range(requests):
            await client.get(path)
        return (time.perf_counter() - started) / requests * 1e6


def _observing(app: Litestar, observation: RequestObservation, on: bool) -> Litestar:
    """`app` with the observation around its ASGI handler (`on`) or only the handler it wraps:
    the same routes, middleware, pools and caches either way."""
    app.asgi_handler = observation if on else observation._app
    return app


async def run(requests: int, rounds: int, scrapes: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="reserva-bench-obs-") as workdir,
        databases(Path(workdir), durable=False) as dbs,
    ):
        settings = Settings(
            database_url=dbs.database_url,
            redis_url=dbs.redis.url,
            kek_file=dbs.kek_file,
            metrics_public=True,
            rate_limit_requests=10_000_000,  # counted, never refused
        )
        container = build_container(settings)
        app = create_app(http_services(container))
        observation = app.asgi_handler
        assert isinstance(observation, RequestObservation)
        results: dict[str, dict[str, list[float]]] = {
            path: {"observed": [], "bare": []} for path in PATHS
        }
        for _ in range(rounds):
            for path in PATHS:
                for kind, on in (("observed", True), ("bare", False)):
                    _observing(app, observation, on)
                    results[path][kind].append(await _per_request_us(app, path, requests))
        observed = _observing(app, observation, True)
        scrape_ms = await _scrape_ms(observed, scrapes)
        await container.close()
        host = machine(dbs)
    summary = {
        path: {
            "observed_us": round(statistics.median(r["observed"]), 1),
            "bare_us": round(statistics.median(r["bare"]), 1),
            "added_us": round(statistics.median(r["observed"]) - statistics.median(r["bare"]), 1),
        }
        for path, r in results.items()
    }
    return {
        "requests_per_round": requests,
        "rounds": rounds,
        "per_request": summary,
        "metrics_scrape_ms": scrape_ms,
        "machine": host,
    }


async def _scrape_ms(app: Litestar, scrapes: int) -> dict[str, float]:
    transport = httpx.ASGITransport(app=app)
    timings = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        (await client.get("/metrics")).raise_for_status()
        for _ in range(scrapes):
            started = time.perf_counter()
            (await client.get("/metrics")).raise_for_status()
            timings.append((time.perf_counter() - started) * 1000)
    return {
        "median": round(statistics.median(timings), 2),
        "p95": round(sorted(timings)[int(len(timings) * 0.95) - 1], 2),
    }


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    scope["path_template"] = "/bench"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _cpu_us(app: Any, calls: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(_message: Any) -> None:
        return None

    scope = {"type": "http", "method": "GET", "path": "/bench", "headers": []}
    started = time.process_time()
    for _ in range(calls):
        await app(dict(scope), receive, send)
    return (time.process_time() - started) / calls * 1e6


async def wrapper_alone(calls: int, rounds: int) -> dict[str, float]:
    observed = RequestObservation(_answer, "X-Request-ID")
    bare, wrapped = [], []
    for _ in range(rounds):
        bare.append(await _cpu_us(_answer, calls))
        wrapped.append(await _cpu_us(observed, calls))
    return {
        "bare_cpu_us": round(statistics.median(bare), 2),
        "observed_cpu_us": round(statistics.median(wrapped), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()
    result = asyncio.run(run(args.requests, args.rounds, args.scrapes))
    result["observation_alone"] = asyncio.run(wrapper_alone(20_000, args.rounds))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
