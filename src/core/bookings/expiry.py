"""Holds past their expiry are marked expired by a periodic job, so the rows say what every
read already shows (`Booking.as_of`) and no query has to wade through dead holds as live ones.

A run sweeps in bounded batches, each its own short transaction, and stops after
`max_batches`: a backlog is worked off over several ticks instead of in one long run.
"""

from __future__ import annotations

import attrs

from core.bookings.ports import LapsedHolds
from core.shared.time import Clock
from core.shared.use_case import UseCase


@attrs.frozen(kw_only=True)
class ExpireHolds(UseCase):
    lapsed_holds: LapsedHolds
    clock: Clock
    batch: int = 500
    max_batches: int = 20

    async def __call__(self) -> int:
        """How many holds this run marked expired."""
        now = self.clock.now()
        marked = 0
        for _ in range(self.max_batches):
            done = await self.lapsed_holds.expire(now, self.batch)
            marked += done
            if done < self.batch:  # none left (or the rest are being written right now)
                break
        return marked
