"""The back-off rule every Throttle adapter applies (the Redis one in Lua, with these numbers)."""

from __future__ import annotations

from datetime import timedelta

import attrs

MAX_DOUBLINGS = 30  # 2**30 * base is far past any sane cap; keeps the arithmetic bounded


@attrs.frozen(kw_only=True)
class ThrottlePolicy:
    """After `max_failures` failures the key is blocked for `base_block`; every further failure
    doubles the block, up to `max_block`. Failures are forgotten once `window` passes after the
    last failure (or after the block it started, if that ends later)."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    base_block: timedelta = timedelta(seconds=2)
    max_block: timedelta = timedelta(minutes=15)

    def block_after(self, failures: int) -> timedelta | None:
        """The block that the `failures`-th failure in a row starts, if any."""
        if failures < self.max_failures:
            return None
        doublings = min(failures - self.max_failures, MAX_DOUBLINGS)
        return min(self.base_block * (1 << doublings), self.max_block)
