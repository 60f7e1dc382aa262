"""`reserva serve`'s sweeper loop: a round that fails is logged and the next one runs."""

from __future__ import annotations

import asyncio
from typing import Any

from core.payments import SettlementReport
from entrypoints.cli.payments import settle_forever


class Sweeps:
    """Stands in for the container: `settle_payments()()` fails once, then reports."""

    def __init__(self) -> None:
        self.rounds = 0
        self.third = asyncio.Event()

    def settle_payments(self) -> Any:
        async def sweep() -> SettlementReport:
            self.rounds += 1
            if self.rounds == 3:
                self.third.set()
            if self.rounds == 1:
                raise ConnectionError("Stripe is down")
            return SettlementReport(events=1)

        return sweep


async def test_a_failed_round_does_not_stop_the_sweeper() -> None:
    sweeps = Sweeps()

    loop = asyncio.create_task(settle_forever(sweeps, 0.01))  # type: ignore[arg-type]
    await asyncio.wait_for(sweeps.third.wait(), 5)
    loop.cancel()

    assert sweeps.rounds >= 3
