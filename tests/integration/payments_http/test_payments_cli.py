"""`reserva payments ...` and `reserva ledger ...` on the same database and Stripe fake as the
API: an operator sees a booking's money, works through failed refunds, refunds goodwill once
per key, reconciles a day and exports the books."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from pathlib import Path

from click.testing import Result
from payments_http_support import (
    COMMISSION,
    PRICE,
    SECRET_KEY,
    WEBHOOK_SECRET,
    Browser,
    Client,
    TokenTable,
    booking_status,
    eventually,
    hold,
    in_thread,
    ok,
    open_shop,
    pay,
    payments_of,
    start_in,
)
from typer.testing import CliRunner

from adapters.memory.clock import FixedClock
from devservers.postgres import LocalDatabase
from devservers.stripe_fake import LocalStripe
from entrypoints.cli.main import app

runner = CliRunner()


async def test_an_operator_works_through_payments_from_the_command_line(
    client: Client,
    tokens: TokenTable,
    browser: Browser,
    clock: FixedClock,
    fake: LocalStripe,
    payments_http_database: LocalDatabase,
    redis_url: str,
    kek_file: Path,
) -> None:
    env = {
        "DATABASE_URL": payments_http_database.app_url,
        "REDIS_URL": redis_url,
        "KEK_FILE": str(kek_file),
        "STRIPE_API_KEY": SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": "pk_test_cli",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": fake.api_base,
        "COLUMNS": "400",
    }

    async def reserva(*args: str) -> Result:
        return await asyncio.to_thread(partial(runner.invoke, app, list(args), env=env))

    shop = await open_shop(client, tokens, browser)
    me = tokens.customer()
    held = await hold(client, me, shop, start_in(clock, 72))
    await browser.confirm(ok(await pay(client, me, held["id"]), 201), "pm_card_refundFail")

    async def confirmed() -> bool:
        return await booking_status(client, me, held["id"]) == "confirmed"

    await eventually(confirmed, "the booking confirmed")
    (record,) = await payments_of(client, me, held["id"])
    payment_id = record["payment"]["id"]
    goodwill = ["payments", "refund", payment_id, "--amount", "1.00", "--currency", "EUR"]

    first = await reserva(*goodwill, "--note", "sorry", "--key", "ticket-1")
    again = await reserva(*goodwill, "--note", "sorry", "--key", "ticket-1")

    async def refund_failed() -> str | None:  # the card's refunds fail at the bank
        (record,) = await payments_of(client, me, held["id"])
        refunds = record["refunds"]
        return refunds[0]["id"] if refunds and refunds[0]["status"] == "failed" else None

    refund_id = await eventually(refund_failed, "the refund to fail")
    shown = await reserva("payments", "show", held["id"])
    listed = await reserva("payments", "list")
    retried = await reserva("payments", "retry-refund", refund_id)
    balance = await reserva("ledger", "balance", "--provider", shop.provider_id)
    since = clock.now().replace(hour=0, minute=0, second=0).isoformat()
    exported = await reserva("ledger", "export", "--since", since)
    reconciled = await reserva("payments", "reconcile")
    settled = await reserva("payments", "settle")
    bad = await reserva("payments", "show", "not-a-uuid")
    stats = await in_thread(fake.control.stats)

    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output
    assert "goodwill" in first.output
    assert refund_id in first.output
    assert refund_id in again.output  # the same request, the same refund
    assert shown.exit_code == 0, shown.output
    assert payment_id in shown.output
    assert "succeeded" in shown.output
    assert listed.exit_code == 0, listed.output
    assert refund_id in listed.output
    assert retried.exit_code == 0, retried.output
    assert stats["counts"]["refunds"] == 2  # the first attempt and the retry, never a third
    assert balance.exit_code == 0, balance.output
    assert f"{(PRICE - COMMISSION) / 100:.2f}" in balance.output
    lines = [json.loads(line) for line in exported.output.splitlines() if line.startswith("{")]
    assert f"capture:{payment_id}" in {line["key"] for line in lines}
    assert all(sum(e["amount_minor"] for e in line["entries"]) == 0 for line in lines)
    assert "matched" in reconciled.output
    assert reconciled.exit_code in (0, 1)  # 1: earlier tests' charges left the reset fake
    assert settled.exit_code == 0, settled.output
    assert "payments settled" in settled.output
    assert bad.exit_code == 1
    assert "not a valid booking id" in bad.output
