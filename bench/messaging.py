"""Messages delivered per second per worker, and the lag from commit to the provider's call
(issue 9's benchmark).

    PYTHONPATH=src .venv/bin/python bench/messaging.py [--backlog 400] [--steady 300]
        [--rate 0.7] [--concurrency 4]

Starts a private PostGIS + Redis and the local messaging fake (SendGrid's v3 API, through the
real SendGrid SDK), then:

1. throughput: `--backlog` registrations commit while no worker runs (each is an outbox event
   whose trigger defers a dispatch job); then one worker (`--concurrency` jobs at once, in this
   process, as `reserva worker` runs it) starts, and the clock runs until every verification
   mail is at the fake. Each mail is two jobs: dispatch_event (plan the message, defer its
   send) and send_message (render, call SendGrid, record SENT).
2. lag under load: with the worker running, `--steady` registrations arrive at `--rate` times
   the measured throughput; for each mail, the lag is from the event's commit (the outbox row's
   `occurred_at`, stamped in the committing transaction) to the moment the fake received the
   SendGrid call.

Prints one JSON document; docs/benchmarks.md keeps the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from load import _percentiles
from pydantic import SecretStr
from returns.result import Failure
from stack import databases, free_port, machine
from workload import PASSWORD

from adapters.postgis.identity.personal import email_hash
from devservers.messaging_fake import LocalMessaging
from entrypoints.container import Container, build_container
from entrypoints.settings import Settings
from entrypoints.worker import WorkerOptions, start_in_process_worker
from entrypoints.worker.handlers import HANDLERS

POLL_SECONDS = 0.05
TIMEOUT_SECONDS = 600.0


def summary(values: Sequence[float]) -> dict[str, float]:
    """Milliseconds: n, mean, p50, p90, p99, p999, max (load.py's cuts)."""
    return {"n": len(values)} | _percentiles([v * 1000 for v in values])


async def register(container: Container, emails: Sequence[str]) -> None:
    run = container.register()
    for email in emails:
        registered = await run(email=email, password=PASSWORD)
        if isinstance(registered, Failure):
            raise RuntimeError(f"registering {email}: {registered}")


async def mails_at_fake(fake: httpx.AsyncClient) -> dict[str, float]:
    """Recipient address -> when the fake received its mail (unix seconds)."""
    mails = (await fake.get("/_test/sendgrid/mails")).json()["mails"]
    return {r["email"]: float(m["received_at"]) for m in mails for r in m["recipients"]}


async def wait_for(fake: httpx.AsyncClient, emails: Sequence[str]) -> dict[str, float]:
    wanted = set(emails)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        received = await mails_at_fake(fake)
        if wanted <= received.keys():
            return {email: received[email] for email in emails}
        if time.monotonic() > deadline:
            missing = len(wanted - received.keys())
            raise RuntimeError(f"{missing} mails never reached the fake")
        await asyncio.sleep(POLL_SECONDS)


def committed_at(libpq_url: str, hashes: dict[str, str]) -> dict[str, float]:
    """When each address's verification event committed. Outbox payloads carry the user id
    only (issue 10): the account is found by its email's lookup hash."""
    by_hash = {digest: email for email, digest in hashes.items()}
    with psycopg.connect(libpq_url) as conn:
        conn.execute("SELECT set_config('app.all_rows', 'on', false)")  # every account (RLS)
        rows = conn.execute(
            "SELECT u.email_hash, extract(epoch FROM o.occurred_at) FROM outbox o"
            " JOIN users u ON u.id = (o.payload->>'user_id')::uuid"
            " WHERE o.name = 'identity.email_verification_requested'"
            " AND u.email_hash = ANY(%s)",
            (list(by_hash),),
        ).fetchall()
    return {by_hash[digest]: float(at) for digest, at in rows}


def emails(tag: str, count: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"bench-{tag}-{run}-{n}@example.com" for n in range(count)]


async def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with (
        databases(workdir, durable=True) as dbs,
        LocalMessaging(free_port(), log_file=workdir / "messaging.log") as fake_server,
    ):
        public_key = fake_server.control.sendgrid_public_key()
        settings = Settings(
            database_url=dbs.database_url,
            redis_url=dbs.redis.url,
            kek_file=dbs.kek_file,
            argon2_memory_kib=1024,  # registrations are the load generator, not the subject
            argon2_time_cost=1,
            auth_request_limit=100_000,
            sendgrid_api_key=SecretStr("SG.bench"),
            sendgrid_api_host=fake_server.base_url,
            sendgrid_event_public_key=public_key,
        )
        container = build_container(settings)
        options = WorkerOptions(poll_every=timedelta(seconds=1))
        async with httpx.AsyncClient(base_url=fake_server.base_url, timeout=60) as fake:
            try:
                # 1. A backlog, then one worker drains it.
                backlog = emails("backlog", args.backlog)
                await register(container, backlog)
                started = time.monotonic()
                worker = start_in_process_worker(
                    container, args.concurrency, handlers=HANDLERS, options=options
                )
                await wait_for(fake, backlog)
                drained = time.monotonic() - started
                throughput = args.backlog / drained

                # 2. A steady arrival rate below that, the worker keeping up.
                steady = emails("steady", args.steady)
                gap = 1 / (throughput * args.rate)
                began = time.monotonic()
                for n, email in enumerate(steady):
                    await asyncio.sleep(max(0.0, began + n * gap - time.monotonic()))
                    await register(container, [email])
                received = await wait_for(fake, steady)
                await worker.stop()
                personal = container.personal_data()
                hashes = {e: await email_hash(personal, e) for e in steady}
            finally:
                await container.close()
        committed = committed_at(dbs.libpq_url, hashes)
        lags = [received[e] - committed[e] for e in steady]
        return {
            "machine": machine(dbs),
            "worker": {"concurrency": args.concurrency, "processes": 1},
            "throughput": {
                "messages": args.backlog,
                "jobs": 2 * args.backlog,
                "seconds": round(drained, 2),
                "messages_per_second": round(throughput, 1),
            },
            "lag_commit_to_provider_ms": {
                "arrival_rate_per_second": round(throughput * args.rate, 1),
                **summary(lags),
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=400)
    parser.add_argument("--steady", type=int, default=300)
    parser.add_argument("--rate", type=float, default=0.7, help="share of the throughput")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="reserva-bench-messaging-"))
    try:
        print(json.dumps(asyncio.run(measure(args, workdir)), indent=2))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
