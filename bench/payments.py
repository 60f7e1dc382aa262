"""Hold -> paid -> confirmed, end to end, at N concurrent customers (issue 8's benchmark).

    PYTHONPATH=src .venv/bin/python bench/payments.py [--customers 50] [--rounds 4] [--think 5]
        [--workers 1]

Starts a private PostGIS + Redis, the local Stripe server (devservers.stripe_fake) and the API
(uvicorn, one worker) with its webhooks pointed at the API, loads demo providers and onboards
them at the fake. Each customer, in a loop: holds a free slot (POST /bookings), starts its
payment (POST /bookings/{id}/payment), confirms it as Stripe.js would in the browser (at the
fake, with the publishable key and the client secret, card pm_card_visa), then waits
until the webhook has confirmed it (one poller reads the bookings table every 5 ms, so waiting
adds no load to the API). The latency of a booking is from the hold request to the poll that
sees it confirmed; the steps are timed on their own too.
Prints one JSON document; docs/benchmarks.md keeps the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psycopg
from load import _percentiles
from stack import api_server as start_api
from stack import databases, free_port, machine, require_tools, server_kinds
from workload import Customer, Hold, free_holds, load_demo, log_in, register_customers

from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal, Role
from devservers.stripe_fake import LocalStripe
from entrypoints.container import build_container
from entrypoints.settings import Settings

WEBHOOK_SECRET = "whsec_bench"  # noqa: S105 - the local fake's signing secret
STRIPE_KEYS = {
    "STRIPE_API_KEY": "sk_test_bench",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_bench",
    "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
}
PROVIDERS = 40
WEBHOOK_CONCURRENCY = 16  # Stripe delivers side by side, in no promised order
POLL_SECONDS = 0.005
LOGS_ON_FAILURE = Path(tempfile.gettempdir()) / "reserva-bench-payments-logs"
CONFIRM_TIMEOUT = 30.0
OPERATOR = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)


def summary(values: Sequence[float]) -> dict[str, float]:
    """Milliseconds: n, mean, p50, p90, p99, p999, max (load.py's cuts)."""
    return {"n": len(values)} | _percentiles([v * 1000 for v in values])


async def onboard_everyone(container: Any, libpq_url: str, stripe_base: str) -> int:
    """Every demo provider finishes Stripe's hosted onboarding (one visit to its link)."""
    with psycopg.connect(libpq_url) as conn:
        ids = [ProviderId(row[0]) for row in conn.execute("SELECT id FROM providers")]
    start = container.start_provider_onboarding()
    async with httpx.AsyncClient(base_url=stripe_base) as browser:
        for provider_id in ids:
            url = await start(OPERATOR, provider_id, "https://b.test/ok", "https://b.test/again")
            visited = await browser.get(url.unwrap())  # a 303 back to our return_url
            if visited.status_code not in (200, 303):
                raise RuntimeError(f"onboarding page answered {visited.status_code}")
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while time.monotonic() < deadline:  # each account.updated webhook reaches the API
        with psycopg.connect(libpq_url) as conn:
            enabled = conn.execute(
                "SELECT count(*) FROM provider_accounts WHERE charges_enabled"
            ).fetchone()
        if enabled and enabled[0] == len(ids):
            return len(ids)
        await asyncio.sleep(0.2)
    raise RuntimeError("providers' onboarding webhooks did not arrive")


def priced(holds: list[Hold], libpq_url: str) -> list[Hold]:
    with psycopg.connect(libpq_url) as conn:
        paid = {row[0] for row in conn.execute("SELECT id FROM offerings WHERE price_minor > 0")}
    return [hold for hold in holds if hold.offering_id in paid]


class Timings:
    def __init__(self) -> None:
        self.steps: dict[str, list[float]] = {
            k: [] for k in ("hold", "payment", "stripe_confirm", "until_confirmed", "end_to_end")
        }
        self.failures: list[str] = []


class ConfirmationWatch:
    """One poller for every booking waiting for its webhook: a query on the database every
    POLL_SECONDS, so waiting customers add no load to the API that is being measured."""

    def __init__(self, libpq_url: str) -> None:
        self.libpq_url = libpq_url
        self.waiting: dict[str, asyncio.Future[None]] = {}

    def confirmed(self, booking_id: str) -> asyncio.Future[None]:
        return self.waiting.setdefault(booking_id, asyncio.get_running_loop().create_future())

    async def run(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.libpq_url, autocommit=True) as db:
            while True:
                if self.waiting:
                    rows = await db.execute(
                        "SELECT id::text FROM bookings WHERE status = 'confirmed' AND id = ANY(%s)",
                        ([uuid.UUID(b) for b in self.waiting],),
                    )
                    for (booking_id,) in await rows.fetchall():
                        self.waiting.pop(booking_id).set_result(None)
                await asyncio.sleep(POLL_SECONDS)


async def book_and_pay(
    api: httpx.AsyncClient,
    stripe: httpx.AsyncClient,
    watch: ConfirmationWatch,
    customer: Customer,
    hold: Hold,
    t: Timings,
) -> None:
    auth = {"Authorization": f"Bearer {customer.access_token}"}
    started = time.monotonic()
    held = await api.post("/bookings", content=hold.body(), headers=auth | _JSON)
    after_hold = time.monotonic()
    if held.status_code != 201:
        t.failures.append(f"hold {held.status_code}")
        return
    booking_id = held.json()["id"]
    checkout = await api.post(f"/bookings/{booking_id}/payment", headers=auth)
    after_payment = time.monotonic()
    if checkout.status_code != 201:
        t.failures.append(f"payment {checkout.status_code}: {checkout.text[:200]}")
        return
    secret = checkout.json()["client_secret"]
    confirmed = await stripe.post(
        f"/v1/payment_intents/{secret.split('_secret_')[0]}/confirm",
        data={"client_secret": secret, "payment_method": "pm_card_visa"},
        headers={"Authorization": f"Bearer {checkout.json()['publishable_key']}"},
    )
    after_stripe = time.monotonic()
    if confirmed.status_code != 200:
        t.failures.append(f"stripe confirm {confirmed.status_code}")
        return
    try:
        await asyncio.wait_for(watch.confirmed(booking_id), CONFIRM_TIMEOUT)
    except TimeoutError:
        t.failures.append("never confirmed")
        return
    done = time.monotonic()
    t.steps["hold"].append(after_hold - started)
    t.steps["payment"].append(after_payment - after_hold)
    t.steps["stripe_confirm"].append(after_stripe - after_payment)
    t.steps["until_confirmed"].append(done - after_stripe)
    t.steps["end_to_end"].append(done - started)


_JSON = {"Content-Type": "application/json"}


async def run_load(
    api_url: str,
    stripe_url: str,
    libpq_url: str,
    customers: list[Customer],
    holds: list[Hold],
    rounds: int,
    think: float,
) -> tuple[Timings, float]:
    thinking = random.Random(7)
    timings = Timings()
    watch = ConfirmationWatch(libpq_url)
    poller = asyncio.create_task(watch.run())
    queue = iter(holds)
    limits = httpx.Limits(max_connections=len(customers) + 10)
    async with (
        httpx.AsyncClient(base_url=api_url, limits=limits, timeout=60) as api,
        httpx.AsyncClient(base_url=stripe_url, limits=limits, timeout=60) as stripe,
    ):

        async def customer_loop(customer: Customer) -> None:
            for _ in range(rounds):
                if think > 0:
                    await asyncio.sleep(thinking.expovariate(1 / think))  # reading, typing
                await book_and_pay(api, stripe, watch, customer, next(queue), timings)

        started = time.monotonic()
        await asyncio.gather(*(customer_loop(c) for c in customers))
    poller.cancel()
    return timings, time.monotonic() - started


async def main(customers: int, rounds: int, think: float, workers: int) -> dict[str, Any]:
    tools = require_tools()
    with (
        tempfile.TemporaryDirectory(prefix="reserva-bench-pay-") as tmp,
        databases(Path(tmp), durable=True) as dbs,
    ):
        stripe = LocalStripe(
            free_port(), log_file=Path(tmp) / "stripe.log", webhook_concurrency=WEBHOOK_CONCURRENCY
        )
        stripe.start()
        try:
            os.environ.update(STRIPE_KEYS | {"STRIPE_API_BASE": stripe.api_base})
            env = {
                **os.environ,
                "DATABASE_URL": dbs.database_url,
                "REDIS_URL": dbs.redis.url,
                "KEK_FILE": str(dbs.kek_file),
            }
            container = build_container(Settings.from_env(env))
            demo = await load_demo(container, PROVIDERS)
            kind = server_kinds(workers)[0]  # >1: the API's CPU is then all cores
            with start_api(kind, dbs, Path(tmp) / "api.log") as server:
                stripe.control.configure_webhook(f"{server.url}/webhooks/stripe", WEBHOOK_SECRET)
                onboarded = await onboard_everyone(container, dbs.libpq_url, stripe.api_base)
                wanted = customers * rounds
                holds = priced(
                    await free_holds(container, dbs.libpq_url, wanted=wanted * 2, days=10, seed=7),
                    dbs.libpq_url,
                )
                if len(holds) < wanted:
                    raise RuntimeError(f"only {len(holds)} free priced slots for {wanted}")
                people = await log_in(container, await register_customers(container, customers))
                timings, seconds = await run_load(
                    server.url, stripe.api_base, dbs.owner_url, people, holds, rounds, think
                )
            if timings.failures:  # keep the servers' logs for a look
                shutil.copytree(
                    tmp,
                    LOGS_ON_FAILURE,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("pg", "redis"),
                )
            return {
                "scenario": f"{customers} customers x {rounds} bookings, hold -> pay -> confirmed,"
                f" {think} s mean think time before each",
                "server": kind.name,
                "providers_onboarded": onboarded,
                "demo": demo,
                "bookings_confirmed": len(timings.steps["end_to_end"]),
                "failures": timings.failures,
                "seconds": round(seconds, 1),
                "confirmed_per_second": round(len(timings.steps["end_to_end"]) / seconds, 1),
                "steps": {name: summary(v) for name, v in timings.steps.items() if v},
                "machine": machine(dbs, tools),
            }
        finally:
            stripe.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="API processes (uvicorn)")
    parser.add_argument(
        "--think", type=float, default=5.0, help="mean seconds a customer pauses before a booking"
    )
    args = parser.parse_args()
    run = main(args.customers, args.rounds, args.think, args.workers)
    print(json.dumps(asyncio.run(run), indent=2))
    sys.exit(0)
