"""`reserva payments ...` and `reserva ledger ...`, and the settlement loop `serve` runs."""

from __future__ import annotations

import asyncio

import attrs
import structlog

from entrypoints.container import Container

_log = structlog.get_logger("reserva.payments")


async def settle_forever(container: Container, every_seconds: float) -> None:
    """The sweeper: events not processed yet, payments and refunds a crash left half done,
    cancellations not refunded, balances due. A failed round is logged and the next one
    tries again; nothing here is lost by waiting."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            report = await container.settle_payments()()
        except Exception:  # the processor or the database is down: try again next round
            _log.exception("settling payments failed; retrying next round")
            continue
        done = attrs.asdict(report)
        if any(done.values()):
            _log.info("payments settled", **done)
