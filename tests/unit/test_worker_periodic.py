"""The periodic jobs every worker schedules: the payments sweeper runs only against a
configured processor, and once a minute, as the sweep of lapsed holds does; retention
(finished jobs included) runs daily."""

from __future__ import annotations

import itertools
from typing import Any

from croniter import croniter

from core.payments import SettlementReport
from entrypoints.worker.handlers import PERIODIC, settle_payments


class Container:
    """Stands in for the container: the Stripe key setting and the sweeper it would call."""

    def __init__(self, stripe_key: str | None) -> None:
        self.rounds = 0
        self._key = stripe_key
        self.config = self

    def stripe_api_key(self) -> str | None:
        return self._key

    def settle_payments(self) -> Any:
        async def sweep() -> SettlementReport:
            self.rounds += 1
            return SettlementReport(events=1)

        return sweep


async def test_the_sweeper_settles_against_a_configured_processor_only() -> None:
    configured, unconfigured = Container("sk_test_x"), Container(None)

    await settle_payments(configured, {"timestamp": 0})
    await settle_payments(unconfigured, {"timestamp": 0})

    assert (configured.rounds, unconfigured.rounds) == (1, 0)


def test_the_sweeper_ticks_every_minute_and_retention_every_day() -> None:
    def gaps(cron: str) -> set[float]:
        ticks = croniter(cron, 0)
        times = [ticks.get_next(float) for _ in range(5)]
        return {later - earlier for earlier, later in itertools.pairwise(times)}

    assert gaps(PERIODIC["settle_payments"].cron) == {60.0}
    assert gaps(PERIODIC["expire_holds"].cron) == {60.0}  # lapsed holds marked expired
    assert gaps(PERIODIC["enforce_retention"].cron) == {86400.0}
    assert "remove_finished_jobs" not in PERIODIC  # folded into the retention table
