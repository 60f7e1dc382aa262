"""The results of bench/run.py as Markdown tables (what docs/benchmarks.md quotes).

Besides rates and latencies every row says where the CPU went: the API process, PostgreSQL,
the load generator, and `other` (whatever else ran on the machine: near zero for a clean run).
"CPU ms per request" (a process's CPU time over the requests it served) is the figure that
survives a noisy machine best.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_CPU_COLUMNS = ("server", "postgres", "load_generator", "other")
_CPU_HEADER = "CPU cores: API / PostgreSQL / load gen / other"


def markdown(results: dict[str, Any]) -> str:
    parts = [f"# Benchmark run {results['started_at']}", _machine(results), _setup(results)]
    if results["servers"]:  # the one-worker tables (not with --quick or --only)
        parts += [_baseline(results), _holds(results), _search(results), _logins(results)]
    goals = results["goals"]
    if "holds" in goals:
        parts.append(_goal_holds(results))
    if "search" in goals:
        parts.append(_goal_search(results))
    return "\n\n".join(parts) + "\n"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _machine(results: dict[str, Any]) -> str:
    m, s = results["machine"], results["settings"]
    pg = m["postgresql_settings"]
    return "\n".join(
        [
            f"- Machine: {m['nproc']} cores ({m['cpu_model']}), {m['ram_gib']} GiB RAM, "
            f"Linux {m['kernel']}, Python {m['python']}",
            f"- PostgreSQL {m['postgresql']}, PostGIS {m['postgis']} (fsync={pg['fsync']}, "
            f"synchronous_commit={pg['synchronous_commit']}, "
            f"shared_buffers={pg['shared_buffers']})",
            f"- {m['wrk']}; {s['wrk_threads']} wrk threads; {s['seconds']} s a measurement; "
            f"everything (load generator, API, PostgreSQL, Redis) on the same machine",
            f"- Command: `{results['command']}` (whole run {results['total_seconds']} s)",
            f"- Other load on the machine before the run: {s['background_cores_before']} cores",
            f"- pgbench runs the hold's writes as bench/{s['hold_script']}",
        ]
    )


def _setup(results: dict[str, Any]) -> str:
    setup = results["setup"]
    demo = setup["demo"]
    return (
        f"Setup: demo catalog of {demo['providers']} providers ({demo['resources']} resources, "
        f"{demo['offerings']} offerings) loaded in {demo['seconds']} s; "
        f"{setup['holds']['available']} non-conflicting free slots found in "
        f"{setup['holds']['seconds']} s; {setup['customers']} customers registered."
    )


def _ms(run: dict[str, Any], *keys: str) -> str:
    return " / ".join(str(run["latency_ms"].get(key, "-")) for key in keys)


def _cpu(run: dict[str, Any]) -> str:
    cores = run["cpu_cores"]
    return " / ".join(f"{cores.get(name, 0):.2f}" for name in _CPU_COLUMNS)


def _cpu_ms(run: dict[str, Any], process: str, rate: float) -> str:
    """Milliseconds of `process` CPU per request (or transaction)."""
    return f"{1000 * run['cpu_cores'][process] / rate:.2f}" if rate else "-"


def _statuses(run: dict[str, Any], *, reused: bool = False) -> str:
    """Status classes; with `reused`, how often wrk started its requests over (for holds that
    means slots sent twice, so 409s)."""
    c = run["status_classes"]
    wraps = f" ({run['wraps']} wraps)" if reused and run["wraps"] else ""
    return f"{c['2xx']} / {c['4xx']} / {c['5xx']}{wraps}"


def _baseline(results: dict[str, Any]) -> str:
    rows = [
        [
            server["name"],
            run["connections"],
            run["rps"],
            _ms(run, "p50", "p99"),
            _cpu_ms(run, "server", run["rps"]),
            _cpu(run),
        ]
        for server in results["servers"]
        for run in [server["baseline"]]
    ]
    header = ("server", "conns", "requests/s", "p50 / p99 ms", "API CPU ms/req", _CPU_HEADER)
    title = "## Baseline: GET /ping on a bare Litestar app (the server's ceiling)"
    return f"{title}\n\n{_table(header, rows)}"


def _holds(results: dict[str, Any]) -> str:
    rows = []
    for server in results["servers"]:
        for run in server["holds"]:
            api, pgb = run["api"], run.get("pgbench")
            rows.append(
                [
                    server["name"],
                    run["connections"],
                    api["ok_per_s"],
                    _statuses(api, reused=True),
                    _ms(api, "p50", "p99"),
                    _cpu_ms(api, "server", api["ok_per_s"]),
                    pgb["tps"] if pgb else "-",
                    _ms(pgb, "p50", "p99") if pgb else "-",
                    _cpu_ms(pgb, "postgres", pgb["tps"]) if pgb else "-",
                    f"{run['api_over_pgbench']:.1%}" if pgb else "-",
                    _cpu(api),
                ]
            )
    header = (
        "server",
        "conns",
        "API holds/s (2xx)",
        "2xx / 4xx / 5xx",
        "API p50 / p99 ms",
        "API CPU ms/hold",
        "pgbench TPS",
        "pgbench p50 / p99 ms",
        "PostgreSQL CPU ms/tx",
        "API ÷ pgbench",
        f"{_CPU_HEADER} (API run)",
    )
    full = [
        f"- {server['name']}, {run['connections']} connections: pgbench on every statement of a "
        f"hold (reads included, bench/hold_full.pgbench.sql) {full['tps']} TPS, p50 / p99 "
        f"{_ms(full, 'p50', 'p99')} ms, {_cpu_ms(full, 'postgres', full['tps'])} ms of "
        f"PostgreSQL CPU a hold; API ÷ that = {run['api_over_pgbench_full']:.1%}"
        for server in results["servers"]
        for run in server["holds"]
        if (full := run.get("pgbench_full"))
    ]
    title = "## Holds: POST /bookings vs pgbench on the hold's writes"
    return f"{title}\n\n{_table(header, rows)}" + ("\n\n" + "\n".join(full) if full else "")


def _search(results: dict[str, Any]) -> str:
    rows = [
        [
            server["name"],
            run["connections"],
            _load(run),
            run["rps"],
            _ms(run, "p50", "p90", "p99", "max"),
            _statuses(run),
            sum(run["socket_errors"].values()) - run["socket_errors"]["status"],
            _cpu_ms(run, "server", run["rps"]),
            _cpu(run),
        ]
        for server in results["servers"]
        for run in server["search"]
    ]
    header = (
        "server",
        "conns",
        "load",
        "requests/s",
        "p50 / p90 / p99 / max ms",
        "2xx / 4xx / 5xx",
        "socket errors",
        "API CPU ms/req",
        _CPU_HEADER,
    )
    radius = results["settings"]["search_radius_m"]
    title = f"## Geo search: GET /search, radius {radius} m, near demo cities"
    return f"{title}\n\n{_table(header, rows)}"


def _load(run: dict[str, Any]) -> str:
    """Saturating (closed loop), or the rate offered (open loop) and how well it was kept."""
    paced = run.get("paced")
    if paced is None:
        return "saturating"
    late = paced["late_fraction"]
    return (
        f"{paced['offered_rps']:g}/s offered ({late:.1%} sent > {paced['late_after_ms']} ms "
        f"late, lateness p99 {paced['lateness_ms'].get('p99', '-')} ms)"
    )


def _goal_holds(results: dict[str, Any]) -> str:
    goals = results["goals"]
    holds = goals["holds"]
    rows = []
    for n, run in enumerate(holds["rounds"], start=1):
        api, pgb = run["api"], run["pgbench"]
        rows.append(
            [
                n,
                api["ok_per_s"],
                _statuses(api, reused=True),
                _ms(api, "p50", "p99"),
                _cpu_ms(api, "server", api["ok_per_s"]),
                pgb["tps"],
                f"{pgb['booked']} / {pgb['transactions']:.0f}",
                _ms(pgb, "p50", "p99"),
                _cpu_ms(pgb, "postgres", pgb["tps"]),
                f"{run['api_over_pgbench']:.1%}",
                _cpu(api),
            ]
        )
    header = (
        "round",
        "API holds/s (2xx)",
        "2xx / 4xx / 5xx",
        "API p50 / p99 ms",
        "API CPU ms/hold",
        "pgbench TPS",
        "pgbench booked / transactions",
        "pgbench p50 / p99 ms",
        "PostgreSQL CPU ms/tx",
        "API ÷ pgbench",
        f"{_CPU_HEADER} (API run)",
    )
    title = (
        f"## Goal 1: holds, {goals['name']}, vs pgbench on the same writes "
        f"(bench/{holds['script']}), {holds['connections']} connections, interleaved"
    )
    summary = (
        f"Medians of {len(holds['rounds'])} rounds: API {holds['api_holds_per_s']} holds/s "
        f"(p99 {holds['api_p99_ms']} ms), pgbench {holds['pgbench_tps']} TPS (p99 "
        f"{holds['pgbench_p99_ms']} ms): **API ÷ pgbench = {holds['api_over_pgbench']:.1%}**."
    )
    return f"{title}\n\n{_table(header, rows)}\n\n{summary}"


def _goal_search(results: dict[str, Any]) -> str:
    goals = results["goals"]
    window = results["settings"]["free_window"]
    rows = [
        [
            f"free slot {window[0][:10]}" if run["free_slot_filter"] else "none",
            run["connections"],
            run["paced"]["offered_rps"],
            run["paced"]["achieved_rps"],
            f"{run['paced']['late_fraction']:.1%}",
            run["paced"]["lateness_ms"].get("p99", "-"),
            _ms(run, "p50", "p90", "p99", "max"),
            _statuses(run),
            sum(run["socket_errors"].values()) - run["socket_errors"]["status"],
            _cpu_ms(run, "server", run["rps"]),
            _cpu(run),
        ]
        for run in goals["search"]
    ]
    header = (
        "filter",
        "conns",
        "offered req/s",
        "achieved req/s",
        f"sent > {goals['search'][0]['paced']['late_after_ms']} ms late",
        "lateness p99 ms",
        "p50 / p90 / p99 / max ms",
        "2xx / 4xx / 5xx",
        "socket errors",
        "API CPU ms/req",
        _CPU_HEADER,
    )
    radius = results["settings"]["search_radius_m"]
    title = (
        f"## Goal 2: geo search, {goals['name']}, GET /search radius {radius} m, "
        "open loop at 1,000 connections"
    )
    note = (
        "Latencies are wrk's, from each request's send; requests sent late waited that much "
        "longer for a free connection (bench/replay.lua). When achieved < offered the server "
        "fell behind: requests still unanswered when the run ended are not counted, so the "
        "percentiles are then a lower bound."
    )
    return f"{title}\n\n{_table(header, rows)}\n\n{note}"


def _logins(results: dict[str, Any]) -> str:
    argon = results["argon2"]
    lines = [
        "## Logins",
        "",
        f"Argon2id `{argon['parameters']}` (the adapter's defaults): "
        f"{argon['one_thread']['per_s']} verifications/s on one thread "
        f"({argon['one_thread']['ms_each']} ms each), "
        f"{argon['two_threads']['per_s']}/s two at a time.",
    ]
    login = results["servers"][0]["login"]
    server_cores = login["cpu_cores"]["server"]
    lines.append(
        f"\nPOST /auth/login, {login['connections']} connections: {login['ok_per_s']} logins/s "
        f"(statuses {_statuses(login)}), p50 / p99 {_ms(login, 'p50', 'p99')} ms; the API "
        f"used {server_cores:.2f} cores ({_cpu_ms(login, 'server', login['ok_per_s'])} ms of CPU "
        f"a login), i.e. {login['ok_per_s'] / max(server_cores, 0.01):.1f} logins/s per API core; "
        f"CPU cores API / PostgreSQL / load gen / other: {_cpu(login)}."
    )
    return "\n".join(lines)
