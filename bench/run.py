"""Load benchmarks of the API, next to the database's own limit, in one run (~8.5 minutes).

    .venv/bin/python bench/run.py [--seconds 20] [--servers all|first] [--durable]

Starts a throwaway PostGIS cluster and Redis on free ports, loads the 3,000-provider demo
catalog, registers bench customers and logs them in through the identity use cases, then, for
each server:

0. GET /ping on a bare Litestar app: what the server and framework alone cost;
1. holds (POST /bookings) of distinct free slots with wrk at 8, 32 and 64 connections, each
   followed by pgbench running the hold's own writes (bench/hold.pgbench.sql) at as many
   clients on the same database: API holds/s over pgbench TPS is the ratio reported (at 32,
   also pgbench on every statement of a hold, bench/hold_full.pgbench.sql);
2. geo search (GET /search) with 1,000 and 64 saturating connections, then 1,000 connections
   of users pausing between requests (half the capacity just measured);
3. logins: the Argon2id adapter alone, then POST /auth/login.

The API runs in its own process, one worker, under each server installed (uvicorn with
uvloop+httptools, uvicorn with asyncio+h11, granian): the first gets every scenario, the
others the baseline, holds at 64 connections and search at 64. Results go to bench/results/
(JSON and Markdown); docs/benchmarks.md explains them. Needs wrk (apt-get install wrk) and
pgbench (with PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import load
import report
import workload
from stack import (
    BASELINE,
    BENCH_DIR,
    Databases,
    MissingTool,
    RunningServer,
    ServerKind,
    api_server,
    databases,
    machine,
    raise_open_files_limit,
    require_tools,
    server_kinds,
)

from entrypoints.container import Container, build_container
from entrypoints.settings import Settings

BOOKING_CONNECTIONS = (8, 32, 64)
FULL_HOLD_CONNECTIONS = 32  # also pgbench on every statement of a hold, reads included
SEARCH_CONNECTIONS = (1000, 64)
PACED_LOAD = 0.5  # of the capacity measured with 1,000 saturating connections
LOGIN_CONNECTIONS = 8
BASELINE_CONNECTIONS = 64
CUSTOMERS = 32
HOLDS_WANTED = 80_000
HOLD_DAYS = 6
ARGON2_VERIFICATIONS = 40
WARM_UP_SECONDS = 3
SEARCH_PATHS = 20_000
SEED = 20_240_601
QUIET_CORES = 0.25  # CPU used by others before the run above which the figures are suspect
RESULTS = BENCH_DIR / "results"


@attrs.frozen(kw_only=True)
class Options:
    seconds: int
    providers: int
    all_servers: bool
    durable: bool


@attrs.frozen(kw_only=True)
class Prepared:
    setup: dict[str, Any]
    holds: list[workload.Hold]
    emails: list[str]


def main(argv: Sequence[str]) -> int:
    options = _options(argv)
    try:
        tools = require_tools()
    except MissingTool as missing:
        print(f"bench: {missing}", file=sys.stderr)
        return 2
    open_files = raise_open_files_limit()
    workdir = Path(tempfile.mkdtemp(prefix="reserva-bench-"))
    try:
        with databases(workdir, durable=options.durable) as dbs:
            results = _run(options, tools, dbs, workdir)
        results["settings"]["open_files_limit"] = open_files
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _save(results)
    return 0


def _options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="length of each measurement")
    parser.add_argument(
        "--providers",
        type=int,
        default=workload.DEMO_PROVIDERS,
        help="demo providers to load (fewer for a quick smoke run)",
    )
    parser.add_argument(
        "--servers",
        choices=("all", "first"),
        default="all",
        help="every installed server, or only the first (uvicorn with uvloop if installed)",
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="fsync and synchronous commits on (default: off, like the test suite's cluster)",
    )
    args = parser.parse_args(argv)
    return Options(
        seconds=args.seconds,
        providers=args.providers,
        all_servers=args.servers == "all",
        durable=args.durable,
    )


def _say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the run


def _run(options: Options, tools: dict[str, str], dbs: Databases, workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/run.py", *sys.argv[1:]]),
        "machine": machine(dbs, tools),
        "settings": {
            "seconds": options.seconds,
            "durable_postgres": options.durable,
            "wrk_threads": load.WRK_THREADS,
            "search_radius_m": workload.SEARCH_RADIUS_M,
        },
    }
    results["settings"]["background_cores_before"] = background = load.background_cores()
    if background > QUIET_CORES:
        _say(f"warning: other processes use {background} cores; the figures will be low")
    prepared = asyncio.run(_prepare(dbs, options.providers))
    results["setup"] = prepared.setup
    _say("Argon2id: timing the password adapter alone")
    results["argon2"] = asyncio.run(load.argon2_verifications(ARGON2_VERIFICATIONS))
    kinds = server_kinds() if options.all_servers else server_kinds()[:1]
    bench = _Bench(options, tools, dbs, workdir, prepared)
    results["servers"] = [bench.server(kind, first=n == 0) for n, kind in enumerate(kinds)]
    results["total_seconds"] = round(time.monotonic() - started, 1)
    return results


def _container(dbs: Databases) -> Container:
    return build_container(
        Settings(database_url=dbs.database_url, redis_url=dbs.redis.url, kek_file=dbs.kek_file)
    )


async def _prepare(dbs: Databases, providers: int) -> Prepared:
    container = _container(dbs)
    try:
        _say(f"Loading {providers} demo providers")
        setup: dict[str, Any] = {"demo": await workload.load_demo(container, providers)}
        _say("Finding free slots to hold")
        started = time.monotonic()
        holds = await workload.free_holds(
            container, dbs.libpq_url, wanted=HOLDS_WANTED, days=HOLD_DAYS, seed=SEED
        )
        setup["holds"] = {"available": len(holds), "seconds": round(time.monotonic() - started, 1)}
        _say(f"{len(holds)} holds ready; registering {CUSTOMERS} customers")
        emails = await workload.register_customers(container, CUSTOMERS)
        setup["customers"] = len(emails)
        return Prepared(setup=setup, holds=holds, emails=emails)
    finally:
        await container.close()


async def _log_in(dbs: Databases, emails: list[str]) -> list[workload.Customer]:
    container = _container(dbs)
    try:
        return await workload.log_in(container, emails)
    finally:
        await container.close()


class _HoldQueue:
    """Holds not used yet. Each wrk run gets all of them in a file; afterwards the ones it may
    have sent are dropped (threads progress unevenly, hence the margin), never reused."""

    def __init__(self, holds: list[workload.Hold]) -> None:
        self._holds = holds

    def file(self, path: Path, customers: list[workload.Customer]) -> Path:
        tokens = [customer.access_token for customer in customers]
        lines = (
            ("POST", "/bookings", tokens[n % len(tokens)], hold.body())
            for n, hold in enumerate(self._holds)
        )
        return load.write_requests(path, lines)

    def sent(self, requests: int, connections: int) -> None:
        self._holds = self._holds[int(requests * 1.1) + 4 * connections :]


class _Bench:
    """The measurements against one server after another, on the same databases."""

    def __init__(
        self,
        options: Options,
        tools: dict[str, str],
        dbs: Databases,
        workdir: Path,
        prepared: Prepared,
    ) -> None:
        self.options, self.tools, self.dbs, self.workdir = options, tools, dbs, workdir
        self.emails = prepared.emails
        self.holds = _HoldQueue(prepared.holds)
        self.customers: list[workload.Customer] = []
        self.ping_file = load.write_requests(workdir / "ping.tsv", [("GET", "/ping", "", "")])
        self.search_file = load.write_requests(
            workdir / "search.tsv",
            (("GET", path, "", "") for path in workload.search_paths(SEARCH_PATHS, SEED)),
        )
        self._pgbench_runs = 0

    def server(self, kind: ServerKind, *, first: bool) -> dict[str, Any]:
        found: dict[str, Any] = {"name": kind.name, "argv": list(kind.argv)}
        with api_server(kind, self.dbs, self.workdir / "server.log", BASELINE) as server:
            _say(f"{kind.name}: GET /ping (trivial app), {BASELINE_CONNECTIONS} connections")
            found["baseline"] = self._wrk(
                server, self.ping_file, BASELINE_CONNECTIONS, self.options.seconds // 2
            )
        # Access tokens live 10 minutes: each server gets fresh ones.
        self.customers = asyncio.run(_log_in(self.dbs, self.emails))
        with api_server(kind, self.dbs, self.workdir / "server.log") as server:
            self._warm_up(server)
            booking = BOOKING_CONNECTIONS if first else BOOKING_CONNECTIONS[-1:]
            found["holds"] = [self._holds(server, c, with_pgbench=first) for c in booking]
            searches = SEARCH_CONNECTIONS if first else SEARCH_CONNECTIONS[-1:]
            found["search"] = [self._search(server, c) for c in searches]
            if first:
                found["search"].append(self._paced_search(server, found["search"][0]["rps"]))
                found["login"] = self._logins(server)
        return found

    def _roots(self, server: RunningServer) -> load.CpuRoots:
        return load.CpuRoots(
            server=server.process.pid, postgres=self.dbs.postmaster_pid, redis=self.dbs.redis_pid
        )

    def _wrk(
        self,
        server: RunningServer,
        file: Path,
        connections: int,
        seconds: int,
        think_ms: float = 0,
    ) -> dict[str, Any]:
        found = load.wrk(
            self.tools["wrk"],
            server.url,
            file,
            connections=connections,
            seconds=seconds,
            meter_roots=self._roots(server),
            think_ms=think_ms,
        )
        found["drained_after_s"] = load.settle(server.process.pid)
        return found

    def _warm_up(self, server: RunningServer) -> None:
        """Fill the pools and let psycopg prepare its statements before anything is measured."""
        _say(f"{server.kind.name}: warming up")
        self._wrk(server, self.search_file, 64, WARM_UP_SECONDS)
        self._api_holds(server, 8, WARM_UP_SECONDS)

    def _api_holds(self, server: RunningServer, connections: int, seconds: int) -> dict[str, Any]:
        file = self.holds.file(self.workdir / "holds.tsv", self.customers)
        found = self._wrk(server, file, connections, seconds)
        self.holds.sent(found["requests"], connections)
        return found

    def _holds(
        self, server: RunningServer, connections: int, *, with_pgbench: bool
    ) -> dict[str, Any]:
        _say(f"{server.kind.name}: POST /bookings, {connections} connections")
        api = self._api_holds(server, connections, self.options.seconds)
        found: dict[str, Any] = {"connections": connections, "api": api}
        if with_pgbench:
            _say(f"pgbench: the hold's writes, {connections} clients")
            found["pgbench"] = pgb = self._pgbench(server, connections, load.HOLD_WRITES_SQL)
            found["api_over_pgbench"] = round(api["ok_per_s"] / pgb["tps"], 3)
        if with_pgbench and connections == FULL_HOLD_CONNECTIONS:
            _say(f"pgbench: every statement of a hold, {connections} clients")
            found["pgbench_full"] = full = self._pgbench(server, connections, load.HOLD_FULL_SQL)
            found["api_over_pgbench_full"] = round(api["ok_per_s"] / full["tps"], 3)
        return found

    def _pgbench(self, server: RunningServer, clients: int, script: Path) -> dict[str, Any]:
        self._pgbench_runs += 1
        return load.pgbench(
            self.tools["pgbench"],
            self.dbs.libpq_url,
            self.workdir,
            clients=clients,
            seconds=self.options.seconds,
            base_hour=self._pgbench_runs * 200_000,  # each run books its own decades
            meter_roots=self._roots(server),
            script=script,
        )

    def _search(self, server: RunningServer, connections: int) -> dict[str, Any]:
        _say(f"{server.kind.name}: GET /search, {connections} connections")
        return self._wrk(server, self.search_file, connections, self.options.seconds)

    def _paced_search(self, server: RunningServer, capacity_rps: float) -> dict[str, Any]:
        """1,000 open connections offering about half the measured capacity: the latency a
        crowd of users sees when the server is busy but keeps up."""
        connections = SEARCH_CONNECTIONS[0]
        think_ms = round(1000 * connections / (PACED_LOAD * max(capacity_rps, 1.0)))
        _say(f"{server.kind.name}: GET /search, {connections} connections, {think_ms} ms pauses")
        return self._wrk(server, self.search_file, connections, self.options.seconds, think_ms)

    def _logins(self, server: RunningServer) -> dict[str, Any]:
        _say(f"{server.kind.name}: POST /auth/login, {LOGIN_CONNECTIONS} connections")
        file = load.write_requests(
            self.workdir / "logins.tsv",
            (("POST", "/auth/login", "", c.login_body()) for c in self.customers),
        )
        return self._wrk(server, file, LOGIN_CONNECTIONS, self.options.seconds)


# ---------------------------------------------------------------- results


def _save(results: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    stamp = results["started_at"].replace(":", "").replace("-", "")
    text = json.dumps(results, indent=2)
    markdown = report.markdown(results)
    for name in (f"run-{stamp}", "latest"):
        (RESULTS / f"{name}.json").write_text(text)
        (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown)
    _say(f"results in {RESULTS}/latest.json and latest.md")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
