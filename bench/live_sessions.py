"""What checking that an access token's session is live costs per request.

    PYTHONPATH=src:bench .venv/bin/python bench/live_sessions.py [--seconds 3] [--rounds 4]

Starts private PostGIS and Redis and two API processes on them, one worker each: `server:app`
(production: every authenticated request asks Redis, one MGET of two keys, whether the
token's session ended or its user's roles changed) and `server:stateless` (the same app with
that check replaced by one that asks nothing). Then, in the same run:

1. HTTP: `GET /me` with one user's valid token, `--clients` concurrent keep-alive clients, in
   alternating rounds of `--seconds` against each server (alternating evens out drift on a
   shared machine); requests per second and mean latency per server, and their ratio.
2. In process: the authenticator alone (JWT verification + the check) against the stateless
   one, `--calls` sequential calls each: microseconds per call and the difference, which is
   the Redis round trip the check adds.

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx
from server import AlwaysLive
from stack import APP, STATELESS, Databases, api_server, databases, server_kinds

from core.identity import AccessTokenAuthenticator, ClientContext, TokenPair
from entrypoints.container import build_container
from entrypoints.settings import Settings

PASSWORD = "plum orbit lantern 77"  # noqa: S105 - a throwaway account
PATH = "/me"


async def sign_up(dbs: Databases) -> tuple[str, Settings]:
    """A user's access token, valid on both servers (they share the signing keys)."""
    settings = Settings(
        database_url=dbs.database_url,
        redis_url=dbs.redis.url,
        kek_file=dbs.kek_file,
        argon2_memory_kib=1024,
        argon2_time_cost=1,
    )
    container = build_container(settings)
    try:
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        (await container.register()(email=email, password=PASSWORD)).unwrap()
        login = container.login()
        pair = (await login(email=email, password=PASSWORD, client=ClientContext())).unwrap()
        assert isinstance(pair, TokenPair)
        return pair.access.token, settings
    finally:
        await container.close()


async def load(url: str, token: str, clients: int, seconds: float) -> tuple[int, list[float]]:
    """Requests completed and their latencies (s), `clients` loops for `seconds`."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as http:
        deadline = time.perf_counter() + seconds

        async def loop() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await http.get(PATH)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}{PATH}: {response.status_code} {response.text}")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(loop() for _ in range(clients)))
    return len(latencies), latencies


async def http_rounds(
    urls: dict[str, str], token: str, *, clients: int, seconds: float, rounds: int
) -> dict[str, dict[str, float]]:
    done = {name: 0 for name in urls}
    latencies: dict[str, list[float]] = {name: [] for name in urls}
    for url in urls.values():  # warm up: connection pools, cached signing keys
        await load(url, token, clients, 1.0)
    for _ in range(rounds):
        for name, url in urls.items():
            count, seen = await load(url, token, clients, seconds)
            done[name] += count
            latencies[name] += seen
    return {
        name: {
            "requests": done[name],
            "rps": round(done[name] / (seconds * rounds), 1),
            "mean_ms": round(statistics.fmean(latencies[name]) * 1000, 3),
            "p50_ms": round(statistics.median(latencies[name]) * 1000, 3),
        }
        for name in urls
    }


async def per_call(call: Callable[[], Awaitable[object]], calls: int) -> float:
    """Mean microseconds of `call`, after a warm-up."""
    for _ in range(200):
        await call()
    started = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - started) / calls * 1e6


async def in_process(settings: Settings, token: str, calls: int) -> dict[str, float]:
    container = build_container(settings)
    try:
        checked = container.authenticator()
        stateless = AccessTokenAuthenticator(
            verify=container.verify_access_token(), live_sessions=AlwaysLive()
        )
        assert await checked(token) is not None
        with_check, without = 0.0, 0.0
        for _ in range(3):  # interleaved, like the HTTP rounds
            with_check += await per_call(lambda: checked(token), calls) / 3
            without += await per_call(lambda: stateless(token), calls) / 3
        return {
            "authenticate_with_check_us": round(with_check, 1),
            "authenticate_without_us": round(without, 1),
            "check_us": round(with_check - without, 1),
        }
    finally:
        await container.close()


def run(args: argparse.Namespace) -> dict[str, object]:
    kind = server_kinds()[0]
    with tempfile.TemporaryDirectory(prefix="reserva-bench-live-") as tmp:
        workdir = Path(tmp)
        with databases(workdir, durable=False) as dbs:
            token, settings = asyncio.run(sign_up(dbs))
            log = workdir / "api.log"
            with (
                api_server(kind, dbs, log, APP) as checked,
                api_server(kind, dbs, log, STATELESS) as stateless,
            ):
                urls = {"with_check": checked.url, "without_check": stateless.url}
                http = asyncio.run(
                    http_rounds(
                        urls,
                        token,
                        clients=args.clients,
                        seconds=args.seconds,
                        rounds=args.rounds,
                    )
                )
            process = asyncio.run(in_process(settings, token, args.calls))
    with_check, without = http["with_check"], http["without_check"]
    return {
        "server": kind.name,
        "request": f"GET {PATH} (authenticated; two SELECTs)",
        "clients": args.clients,
        "seconds_per_round": args.seconds,
        "rounds": args.rounds,
        "http": http,
        "rps_ratio_with_over_without": round(with_check["rps"] / without["rps"], 3),
        "mean_latency_ratio_with_over_without": round(
            with_check["mean_ms"] / without["mean_ms"], 3
        ),
        "in_process": process,
    }


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per server")
    parser.add_argument("--calls", type=int, default=2000, help="in-process calls per batch")
    print(json.dumps(run(parser.parse_args(argv)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
