"""Load benchmarks of the API, next to the database's own limit, in one run.

    .venv/bin/python bench/run.py --quick    # <= 3 minutes; last line hold_api_to_pgbench=<ratio>
    .venv/bin/python bench/run.py [--seconds 20] [--servers all|first] [--durable]
                                  [--workers 2] [--rounds 3] [--search-rate 600]
                                  [--only holds|search] [--pgbench-script PATH]

Starts a throwaway PostGIS cluster and Redis on free ports, loads the demo catalog (3,000
providers; --quick: 300), registers bench customers and logs them in through the identity use
cases. Then, unless --only or --quick, for each server installed (uvicorn with uvloop+httptools,
uvicorn with asyncio+h11, granian), the API in one worker process:

0. GET /ping on a bare Litestar app: what the server and framework alone cost;
1. holds (POST /bookings) of distinct free slots with wrk at 8, 32 and 64 connections, each
   followed by pgbench running the hold's writes at as many clients on the same database: API
   holds/s over pgbench TPS is the ratio reported;
2. geo search (GET /search) with 1,000 and 64 saturating connections, then 1,000 connections
   offered half the capacity just measured (open loop);
3. logins: the Argon2id adapter alone, then POST /auth/login.

The first server gets every scenario, the others the baseline, holds at 64 connections and
search at 64. Then the goals of issue 11, with the API in --workers processes (2, as `reserva
serve` on this machine) under the first server:

4. holds vs pgbench on the same writes, interleaved: --rounds rounds of API holds then pgbench
   (the order alternating), 32 connections each; the ratio is median API holds/s over median
   pgbench TPS, printed last as `hold_api_to_pgbench=<ratio>`;
5. geo search at 1,000 open connections and --search-rate requests a second offered (open
   loop, bench/replay.lua), without and with the free-slot filter (one whole day, three days
   ahead).

"The hold's writes" are whatever the checked-out code sends: bench/load.py picks the pgbench
script by the functions the migrated database has (a hold function of issue 11, else the
statements of bench/hold.pgbench.sql). --quick runs only 4 (3 rounds of 10 s) on a smaller
catalog; --only runs only 4 or 5. Results go to bench/results/ (JSON and Markdown);
docs/benchmarks.md explains them. Needs wrk (apt-get install wrk) and pgbench (with
PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
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

from core.shared.time import TimeRange
from entrypoints.container import Container, build_container
from entrypoints.settings import Settings

BOOKING_CONNECTIONS = (8, 32, 64)
FULL_HOLD_CONNECTIONS = 32  # also pgbench on every statement of a hold, reads included
SEARCH_CONNECTIONS = (1000, 64)
PACED_LOAD = 0.5  # of the capacity measured with 1,000 saturating connections
LOGIN_CONNECTIONS = 8
BASELINE_CONNECTIONS = 64
GOAL_HOLD_CONNECTIONS = 32
GOAL_SEARCH_CONNECTIONS = 1000
GOAL_SEARCH_RATE = 600.0  # requests a second offered (issue 11)
FREE_WINDOW_DAYS_AHEAD = 3
WORKERS = 2  # API processes for the goals: `reserva serve` on this 2-core machine
ROUNDS = 3
QUICK_PROVIDERS = 300
QUICK_SECONDS = 10
CUSTOMERS = 32
HOLDS_WANTED = 250_000
HOLD_DAYS = 14
MAX_HOLD_RATE = 5_000  # holds a second no run here reaches: a wrk file holds that many a second
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
    workers: int
    rounds: int
    search_rate: float
    only: str | None  # "holds" or "search": only that goal; None: everything
    pgbench_script: Path | None  # None: chosen by the functions the database has
    quick: bool

    @property
    def one_worker_tables(self) -> bool:
        return self.only is None

    def goal(self, name: str) -> bool:
        return self.only in (None, name)


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
    except load.UnknownHoldFunction as unknown:
        print(f"bench: {unknown}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _save(results)
    _print_ratio(results)
    return 0


def _options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"only holds vs pgbench, {QUICK_PROVIDERS} providers, {QUICK_SECONDS} s a measurement",
    )
    parser.add_argument("--seconds", type=int, help="length of each measurement (default 20)")
    parser.add_argument(
        "--providers",
        type=int,
        help=f"demo providers to load (default {workload.DEMO_PROVIDERS})",
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
    parser.add_argument(
        "--workers", type=int, default=WORKERS, help="API processes for the goals (default 2)"
    )
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help="interleaved rounds of API and pgbench holds"
    )
    parser.add_argument(
        "--search-rate",
        type=float,
        default=GOAL_SEARCH_RATE,
        help="search requests a second offered at 1,000 connections (default 600)",
    )
    parser.add_argument(
        "--only",
        choices=("holds", "search"),
        help="only that goal (two workers), none of the one-worker tables",
    )
    parser.add_argument(
        "--pgbench-script",
        type=Path,
        help="the hold's writes for pgbench (default: chosen by the database's functions)",
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    return Options(
        seconds=args.seconds or (QUICK_SECONDS if quick else 20),
        providers=args.providers or (QUICK_PROVIDERS if quick else workload.DEMO_PROVIDERS),
        all_servers=args.servers == "all",
        durable=args.durable,
        workers=args.workers,
        rounds=args.rounds,
        search_rate=args.search_rate,
        only="holds" if quick else args.only,
        pgbench_script=args.pgbench_script,
        quick=quick,
    )


def _say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the run


def _run(options: Options, tools: dict[str, str], dbs: Databases, workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    hold_script = options.pgbench_script or load.hold_writes_script(dbs.libpq_url)
    _say(f"pgbench runs the hold's writes as {hold_script.name}")
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/run.py", *sys.argv[1:]]),
        "machine": machine(dbs, tools),
        "settings": {
            "seconds": options.seconds,
            "durable_postgres": options.durable,
            "wrk_threads": load.WRK_THREADS,
            "search_radius_m": workload.SEARCH_RADIUS_M,
            "hold_script": hold_script.name,
            "workers": options.workers,
            "rounds": options.rounds,
        },
    }
    results["settings"]["background_cores_before"] = background = load.background_cores()
    if background > QUIET_CORES:
        _say(f"warning: other processes use {background} cores; the figures will be low")
    prepared = asyncio.run(_prepare(dbs, options.providers))
    results["setup"] = prepared.setup
    bench = _Bench(options, tools, dbs, workdir, prepared, hold_script)
    window = bench.free_window
    results["settings"]["free_window"] = [window.start.isoformat(), window.end.isoformat()]
    results["servers"] = []
    if options.one_worker_tables:
        _say("Argon2id: timing the password adapter alone")
        results["argon2"] = asyncio.run(load.argon2_verifications(ARGON2_VERIFICATIONS))
        kinds = server_kinds() if options.all_servers else server_kinds()[:1]
        results["servers"] = [bench.server(kind, first=n == 0) for n, kind in enumerate(kinds)]
    results["goals"] = bench.goals(server_kinds(options.workers)[0])
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
    """Holds not used yet. Each wrk run gets as many as it could send in a file; afterwards the
    ones it may have sent are dropped (threads progress unevenly, hence the margin), never
    reused. A run that sends them all starts again (wraps, answered 409: the report says so)."""

    def __init__(self, holds: list[workload.Hold]) -> None:
        self._holds = holds

    def file(self, path: Path, customers: list[workload.Customer], seconds: int) -> Path:
        tokens = [customer.access_token for customer in customers]
        lines = (
            ("POST", "/bookings", tokens[n % len(tokens)], hold.body())
            for n, hold in enumerate(self._holds[: MAX_HOLD_RATE * seconds])
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
        hold_script: Path,
    ) -> None:
        self.options, self.tools, self.dbs, self.workdir = options, tools, dbs, workdir
        self.emails = prepared.emails
        self.holds = _HoldQueue(prepared.holds)
        self.hold_script = hold_script
        self.customers: list[workload.Customer] = []
        self.ping_file = load.write_requests(workdir / "ping.tsv", [("GET", "/ping", "", "")])
        self.search_file = self._search_file("search.tsv", None)
        self.free_window = workload.free_window(datetime.now(UTC), FREE_WINDOW_DAYS_AHEAD)
        self.free_search_file = self._search_file("search-free.tsv", self.free_window)
        self._pgbench_runs = 0

    def _search_file(self, name: str, free: TimeRange | None) -> Path:
        paths = workload.search_paths(SEARCH_PATHS, SEED, free)
        return load.write_requests(self.workdir / name, (("GET", p, "", "") for p in paths))

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

    def goals(self, kind: ServerKind) -> dict[str, Any]:
        """Issue 11's goals, measured against the API in `--workers` processes."""
        found: dict[str, Any] = {
            "name": kind.name,
            "argv": list(kind.argv),
            "workers": self.options.workers,
        }
        self.customers = asyncio.run(_log_in(self.dbs, self.emails))
        with api_server(kind, self.dbs, self.workdir / "server.log") as server:
            self._warm_up(server, free_search=self.options.goal("search"))
            if self.options.goal("holds"):
                found["holds"] = self._interleaved_holds(server)
            if self.options.goal("search"):
                found["search"] = [
                    self._offered_search(server, self.search_file, free=False),
                    self._offered_search(server, self.free_search_file, free=True),
                ]
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
        rate: float = 0,
    ) -> dict[str, Any]:
        found = load.wrk(
            self.tools["wrk"],
            server.url,
            file,
            connections=connections,
            seconds=seconds,
            meter_roots=self._roots(server),
            rate=rate,
        )
        found["drained_after_s"] = load.settle(server.process.pid)
        return found

    def _warm_up(self, server: RunningServer, *, free_search: bool = False) -> None:
        """Fill the pools (of every worker) and let psycopg prepare its statements, and the
        caches fill, before anything is measured."""
        _say(f"{server.kind.name}: warming up")
        self._wrk(server, self.search_file, 64, WARM_UP_SECONDS)
        if free_search:
            self._wrk(server, self.free_search_file, 64, WARM_UP_SECONDS)
        self._api_holds(server, 8, WARM_UP_SECONDS)

    def _api_holds(self, server: RunningServer, connections: int, seconds: int) -> dict[str, Any]:
        file = self.holds.file(self.workdir / "holds.tsv", self.customers, seconds)
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
            found["pgbench"] = pgb = self._pgbench(server, connections, self.hold_script)
            found["api_over_pgbench"] = round(api["ok_per_s"] / pgb["tps"], 3)
        # Every statement of a hold, reads included: only while a hold is such statements.
        full_applies = self.hold_script == load.HOLD_WRITES_SQL
        if with_pgbench and full_applies and connections == FULL_HOLD_CONNECTIONS:
            _say(f"pgbench: every statement of a hold, {connections} clients")
            found["pgbench_full"] = full = self._pgbench(server, connections, load.HOLD_FULL_SQL)
            found["api_over_pgbench_full"] = round(api["ok_per_s"] / full["tps"], 3)
        return found

    def _interleaved_holds(self, server: RunningServer) -> dict[str, Any]:
        """Rounds of API holds and pgbench on the same writes, alternating which goes first
        (API, pgbench, pgbench, API, ...) so a drift of the machine weighs on both alike."""
        connections, rounds = GOAL_HOLD_CONNECTIONS, []
        for n in range(self.options.rounds):
            found: dict[str, Any] = {}
            order = ("api", "pgbench") if n % 2 == 0 else ("pgbench", "api")
            for side in order:
                what = "POST /bookings" if side == "api" else f"pgbench {self.hold_script.name}"
                _say(f"round {n + 1}/{self.options.rounds}: {what}, {connections} connections")
                if side == "api":
                    found["api"] = self._api_holds(server, connections, self.options.seconds)
                else:
                    found["pgbench"] = self._pgbench(server, connections, self.hold_script)
            found["api_over_pgbench"] = round(found["api"]["ok_per_s"] / found["pgbench"]["tps"], 3)
            rounds.append(found)
        api_rate = statistics.median(r["api"]["ok_per_s"] for r in rounds)
        pgbench_tps = statistics.median(r["pgbench"]["tps"] for r in rounds)
        return {
            "connections": connections,
            "script": self.hold_script.name,
            "rounds": rounds,
            "api_holds_per_s": api_rate,
            "api_p99_ms": statistics.median(r["api"]["latency_ms"]["p99"] for r in rounds),
            "pgbench_tps": pgbench_tps,
            "pgbench_p99_ms": statistics.median(
                r["pgbench"]["latency_ms"].get("p99", 0.0) for r in rounds
            ),
            "api_over_pgbench": round(api_rate / pgbench_tps, 3),
        }

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
            owner_url=self.dbs.owner_url,
        )

    def _search(self, server: RunningServer, connections: int) -> dict[str, Any]:
        _say(f"{server.kind.name}: GET /search, {connections} connections")
        return self._wrk(server, self.search_file, connections, self.options.seconds)

    def _paced_search(self, server: RunningServer, capacity_rps: float) -> dict[str, Any]:
        """1,000 open connections offered about half the measured capacity: the latency a
        crowd of users sees when the server is busy but keeps up."""
        connections = SEARCH_CONNECTIONS[0]
        rate = round(PACED_LOAD * max(capacity_rps, 1.0), 1)
        _say(f"{server.kind.name}: GET /search, {connections} connections, {rate}/s offered")
        return self._wrk(server, self.search_file, connections, self.options.seconds, rate)

    def _offered_search(self, server: RunningServer, file: Path, *, free: bool) -> dict[str, Any]:
        """The goal's search: 1,000 open connections, --search-rate requests a second."""
        rate, filtered = self.options.search_rate, " with the free-slot filter" if free else ""
        _say(
            f"{server.kind.name}: GET /search{filtered}, {GOAL_SEARCH_CONNECTIONS} connections, "
            f"{rate}/s offered"
        )
        found = self._wrk(server, file, GOAL_SEARCH_CONNECTIONS, self.options.seconds, rate)
        return {**found, "free_slot_filter": free}

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


def _print_ratio(results: dict[str, Any]) -> None:
    """The goal's figures, the ratio as the very last line (what the issue asks to print)."""
    holds = results["goals"].get("holds")
    if holds is None:
        return
    sys.stderr.flush()
    print(
        f"holds, {results['goals']['name']}, {holds['connections']} connections, "
        f"{len(holds['rounds'])} interleaved rounds (medians): API {holds['api_holds_per_s']} "
        f"holds/s, p99 {holds['api_p99_ms']} ms; pgbench {holds['script']} "
        f"{holds['pgbench_tps']} TPS, p99 {holds['pgbench_p99_ms']} ms"
    )
    print(f"hold_api_to_pgbench={holds['api_over_pgbench']:.3f}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
