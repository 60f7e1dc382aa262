"""Load generators (wrk, pgbench) and where the CPU went while they ran."""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import psycopg
from stack import BENCH_DIR

from adapters.security.passwords import Argon2PasswordHasher

REPLAY_LUA = BENCH_DIR / "replay.lua"
# A hold as a sequence of statements (issue 10's code: add_exclusive + the outbox), and every
# statement of such a hold, reads included.
HOLD_WRITES_SQL = BENCH_DIR / "hold.pgbench.sql"
HOLD_FULL_SQL = BENCH_DIR / "hold_full.pgbench.sql"
# A hold as one call of a database function (issue 11, migration 0020): the script for each
# signature known, newest first. The migrated database's catalog (pg_proc) decides which one
# runs, so the benchmark measures whatever code is checked out. A new or changed signature:
# copy the nearest script, change its SELECT to the new call, add a line here.
HOLD_FUNCTION_SCRIPTS = (
    (
        "hold_booking(jsonb, uuid[], bigint, timestamptz, jsonb)",
        BENCH_DIR / "hold_booking.pgbench.sql",
    ),
)
PGBENCH_CUSTOMER = "7542ae65-6b5c-4386-9c5a-21045f07d09f"  # the customer every script books for
WRK_THREADS = 2  # one per core: wrk needs little, and the server must share these cores
_TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- CPU accounting


@attrs.frozen(kw_only=True)
class CpuRoots:
    """The long-lived processes to account for; each counts with all its descendants."""

    server: int
    postgres: int
    redis: int


def _process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far), for every live process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces and parens
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS)
    return table


def _tree_cpu(table: dict[int, tuple[int, float]], root: int) -> dict[int, float]:
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            found[pid] = table[pid][1]
            todo.extend(children.get(pid, []))
    return found


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user
    return (total - idle) / _TICKS, total / _TICKS


class CpuMeter:
    """CPU used during a measurement, in cores (1.0 = one core busy the whole time).

    The load generator is a child that exits before the meter stops: it is counted through
    RUSAGE_CHILDREN. The servers' processes are read from /proc, every SAMPLE_S too: pgbench's
    database backends exit with it, and their last reading stands for their total (what they
    use in their last SAMPLE_S is lost, a few hundredths of a core at most).
    """

    SAMPLE_S = 0.25

    def __init__(self, roots: CpuRoots) -> None:
        self._roots = roots
        self._stop = threading.Event()

    def __enter__(self) -> CpuMeter:
        self._started = time.monotonic()
        self._machine = _machine_busy()
        self._children = _children_cpu()
        self._self = _self_cpu()
        self._first = self._snapshot()
        self._last = {name: dict(pids) for name, pids in self._first.items()}
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._sampler.join()
        self._record(self._snapshot())
        wall = time.monotonic() - self._started
        busy, total = _machine_busy()
        self.cores: dict[str, float] = {
            name: sum(t - self._first[name].get(pid, 0.0) for pid, t in pids.items()) / wall
            for name, pids in self._last.items()
        }
        self.cores["load_generator"] = (_children_cpu() - self._children) / wall
        self.cores["driver"] = (_self_cpu() - self._self) / wall  # this script, sampler included
        ours = sum(self.cores.values())
        machine_busy = busy - self._machine[0]
        self.cores["machine"] = machine_busy / wall
        # Anything else running on the machine (other test suites...): the figures are only
        # clean when this stays near zero.
        self.cores["other"] = max(0.0, self.cores["machine"] - ours)
        self.cores["machine_busy_fraction"] = machine_busy / (total - self._machine[1])

    def _sample(self) -> None:
        while not self._stop.wait(self.SAMPLE_S):
            self._record(self._snapshot())

    def _record(self, snapshot: dict[str, dict[int, float]]) -> None:
        for name, pids in snapshot.items():
            self._last[name].update(pids)

    def _snapshot(self) -> dict[str, dict[int, float]]:
        table = _process_table()
        roots = attrs.asdict(self._roots)
        return {name: _tree_cpu(table, pid) for name, pid in roots.items()}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def background_cores(seconds: float = 3.0) -> float:
    """CPU the rest of the machine uses while we do nothing: should be ~0 for clean figures."""
    busy, _ = _machine_busy()
    time.sleep(seconds)
    return round((_machine_busy()[0] - busy) / seconds, 2)


def settle(server_pid: int, *, idle_cores: float = 0.1, limit_s: float = 60.0) -> float:
    """Wait until the server has drained the requests a closed load left queued; seconds waited.

    After wrk stops, a server that fell behind keeps working through accepted requests; the
    next measurement would otherwise start against that backlog.
    """
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        before = sum(_tree_cpu(_process_table(), server_pid).values())
        time.sleep(0.5)
        if sum(_tree_cpu(_process_table(), server_pid).values()) - before < idle_cores * 0.5:
            break
    return round(time.monotonic() - started, 1)


def rounded(cores: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 2) for name, value in cores.items()}


# ---------------------------------------------------------------- wrk


def write_requests(path: Path, lines: Iterable[tuple[str, str, str, str]]) -> Path:
    """(method, path, token, JSON body) per line, the format replay.lua reads."""
    with path.open("w") as out:
        for fields in lines:
            out.write("\t".join(fields) + "\n")
    return path


def wrk(
    wrk_path: str,
    url: str,
    requests_file: Path,
    *,
    connections: int,
    seconds: int,
    meter_roots: CpuRoots,
    rate: float = 0,
    timeout_s: int = 30,
) -> dict[str, Any]:
    """Saturating load (each connection sends its next request as soon as it has an answer),
    or with `rate` open-loop load: requests released at that many a second (Poisson), whatever
    the answers, on `connections` open connections (replay.lua says how, and its limits).
    """
    argv = [
        wrk_path,
        *("-t", str(min(WRK_THREADS, connections)), "-c", str(connections)),
        *("-d", f"{seconds}s", "--timeout", f"{timeout_s}s", "-s", str(REPLAY_LUA)),
        url,
        *("--", str(requests_file), str(min(WRK_THREADS, connections))),
    ]
    env = {**os.environ, "REPLAY_RATE": str(rate)}
    with CpuMeter(meter_roots) as meter:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    found = re.search(r"^WRK_JSON (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return _wrk_summary(json.loads(found.group(1)), connections, meter.cores)


def _wrk_summary(raw: dict[str, Any], connections: int, cores: dict[str, float]) -> dict[str, Any]:
    seconds = raw["duration_us"] / 1e6
    statuses = {int(code): n for code, n in raw["statuses"].items()}
    classes = {
        f"{k}xx": sum(n for code, n in statuses.items() if code // 100 == k) for k in (2, 4, 5)
    }
    latency = raw["latency_us"]
    summary = {
        "connections": connections,
        "seconds": round(seconds, 1),
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1),
        "ok_per_s": round(classes["2xx"] / seconds, 1),
        "statuses": {str(code): n for code, n in sorted(statuses.items())},
        "status_classes": classes,
        "socket_errors": raw["errors"],
        "wraps": raw["wraps"],
        "latency_ms": {k: round(v / 1000, 2) for k, v in latency.items()},
        "cpu_cores": rounded(cores),
    }
    if paced := raw.get("paced"):
        # Offered: the schedule's rate. Achieved: answers a second. Sent late: releases that
        # found every connection busy (the server fell behind; see replay.lua).
        summary["paced"] = {
            "offered_rps": paced["rate"],
            "achieved_rps": summary["rps"],
            "sent": paced["sent"],
            "late": paced["late"],
            "late_fraction": round(paced["late"] / max(paced["sent"], 1), 4),
            "late_after_ms": paced["late_ms"],
            "lateness_ms": paced["lateness_ms"],
        }
    return summary


# ---------------------------------------------------------------- pgbench


class UnknownHoldFunction(RuntimeError):
    """The database has a hold function no pgbench script knows: measuring the old statements
    instead would compare the API with writes it no longer sends."""


def hold_writes_script(libpq_url: str) -> Path:
    """The pgbench script that sends the writes the checked-out API's hold sends."""
    with psycopg.connect(libpq_url) as conn:
        for signature, script in HOLD_FUNCTION_SCRIPTS:
            found = conn.execute("SELECT to_regprocedure(%s) IS NOT NULL", [signature]).fetchone()
            if found and found[0]:
                return script
        unknown = [
            str(row[0])
            for row in conn.execute(
                "SELECT oid::regprocedure::text FROM pg_proc"
                " WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'hold%'"
            )
        ]
    if unknown:
        raise UnknownHoldFunction(
            f"the database has {', '.join(unknown)} but no pgbench script calls it: add one "
            "to HOLD_FUNCTION_SCRIPTS in bench/load.py (see bench/hold_booking.pgbench.sql), "
            "or pass --pgbench-script"
        )
    return HOLD_WRITES_SQL


def _booked(owner_url: str) -> int:
    """Bookings the pgbench scripts made so far (as the owner: row-level security hides them)."""
    with psycopg.connect(owner_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM bookings WHERE customer_id = %s", [PGBENCH_CUSTOMER]
        ).fetchone()
    return int(row[0]) if row else 0


def pgbench(
    pgbench_path: str,
    libpq_url: str,
    logs: Path,
    *,
    clients: int,
    seconds: int,
    base_hour: int,
    meter_roots: CpuRoots,
    script: Path,
    owner_url: str,
) -> dict[str, Any]:
    """A hold's statements (`script`), prepared like psycopg prepares them after five uses.

    `booked` counts the bookings the run made: a script whose call answers "refused" instead
    of failing (a function's outcome) would otherwise count refusals as transactions.
    """
    prefix = logs / f"pgbench-c{clients}-b{base_hour}"
    argv = [
        pgbench_path,
        *("-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, WRK_THREADS))),
        *("-T", str(seconds), "-f", str(script)),
        *("-D", "n=0", "-D", f"base={base_hour}", "-D", "size=100000"),
        *("-l", f"--log-prefix={prefix}"),
        libpq_url,
    ]
    booked_before = _booked(owner_url)
    with CpuMeter(meter_roots) as meter:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    latencies = _pgbench_latencies(prefix)
    return {
        "script": script.name,
        "connections": clients,
        "seconds": seconds,
        "transactions": _number(r"number of transactions actually processed: (\d+)", done.stdout),
        "failed": _number(r"number of failed transactions: (\d+)", done.stdout),
        "booked": _booked(owner_url) - booked_before,
        "tps": round(_number(r"tps = ([\d.]+) \(without", done.stdout), 1),
        "latency_ms": _percentiles(latencies),
        "cpu_cores": rounded(meter.cores),
    }


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"pgbench output lacks {pattern!r}:\n{text}")
    return float(found.group(1))


def _pgbench_latencies(prefix: Path) -> list[float]:
    """Per-transaction latencies (ms) from the -l logs: client, tx, time_us, script, epoch, us."""
    found = []
    for log in prefix.parent.glob(prefix.name + ".*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                found.append(int(fields[2]) / 1000)
    return found


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    if len(values) < 2:
        return {}
    cuts = statistics.quantiles(values, n=1000, method="inclusive")
    return {
        "mean": round(statistics.fmean(values), 2),
        "p50": round(cuts[499], 2),
        "p90": round(cuts[899], 2),
        "p99": round(cuts[989], 2),
        "p999": round(cuts[998], 2),
        "max": round(max(values), 2),
    }


# ---------------------------------------------------------------- password hashing


async def argon2_verifications(count: int) -> dict[str, Any]:
    """The password adapter with its defaults: `count` verifications one at a time (one core),
    then the same number two at a time (argon2-cffi releases the GIL: two cores)."""
    hasher = Argon2PasswordHasher()
    password = "correct horse battery staple 2024"  # noqa: S105 - a throwaway
    encoded = await hasher.hash(password)

    async def serial() -> None:
        for _ in range(count):
            await hasher.verify(encoded, password)

    async def pairs() -> None:
        for _ in range(count // 2):
            await asyncio.gather(hasher.verify(encoded, password), hasher.verify(encoded, password))

    one_core = await _timed(serial)
    two_threads = await _timed(pairs)
    return {
        "parameters": encoded.rsplit("$", 2)[0],  # $argon2id$v=19$m=...,t=...,p=...
        "verifications": count,
        "one_thread": {
            "seconds": round(one_core, 2),
            "per_s": round(count / one_core, 1),
            "ms_each": round(1000 * one_core / count, 1),
        },
        "two_threads": {
            "seconds": round(two_threads, 2),
            "per_s": round(2 * (count // 2) / two_threads, 1),
        },
    }


async def _timed(work: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started
