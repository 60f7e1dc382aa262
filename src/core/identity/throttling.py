"""Throttling in identity: the back-off rule every Throttle adapter applies (the Redis one in
Lua, with these numbers), and how the use cases apply it: which failures count, under which
keys, and which requests are rationed whatever their outcome.

Every attempt is reserved before the expensive check (Argon2, a TOTP comparison, a token
lookup) and given back afterwards if it did not count: a burst of concurrent guesses gets no
more checks than the same guesses one after another."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TypeVar

import attrs
from returns.result import Failure, Result, Success

from core.identity.errors import TooManyAttempts, TooManyRequests
from core.identity.model import ClientContext
from core.identity.ports import Blocked, Throttle
from core.shared.errors import DomainError

T = TypeVar("T")
E = TypeVar("E", bound=DomainError)

MAX_DOUBLINGS = 30  # 2**30 * base is far past any sane cap; keeps the arithmetic bounded


@attrs.frozen(kw_only=True)
class ThrottlePolicy:
    """The `max_failures`-th failure blocks the key for `base_block`; every further failure
    doubles the block, up to `max_block`. Failures are forgotten once `window` passes after the
    last failure (or after the block it started, if that ends later). An attempt in flight
    counts as a failure until it is given back (`Throttle`)."""

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


# --- which failures count, under which keys -----------------------------------------------------


def throttle_keys(purpose: str, client: ClientContext, *, account: str | None = None) -> list[str]:
    """`<purpose>:acct:<account>` and `<purpose>:ip:<ip>`, for what is known."""
    keys = [f"{purpose}:acct:{account}"] if account else []
    if client.ip:
        keys.append(f"{purpose}:ip:{client.ip}")
    return keys


async def guarded(
    throttle: Throttle,
    keys: Sequence[str],
    attempt: Callable[[], Awaitable[Result[T, E]]],
    *,
    counts: tuple[type[DomainError], ...],
) -> Result[T, E | TooManyAttempts]:
    """Run `attempt` unless a key is blocked, counted against every key while it runs. It keeps
    counting if it fails with one of the `counts` kinds (a wrong secret, not, say, a weak new
    password); any other outcome gives it back. After enough failures the keys are blocked
    for a time that doubles with each further failure."""
    reserved = await throttle.reserve(keys)
    if isinstance(reserved, Blocked):
        return Failure(TooManyAttempts(reserved.retry_after))
    result = await attempt()
    if not (isinstance(result, Failure) and isinstance(result.failure(), counts)):
        await throttle.release(reserved)
    return result


async def ration(throttle: Throttle, keys: Sequence[str]) -> Result[None, TooManyRequests]:
    """Count this request against every key, whatever its outcome, unless one is blocked: for
    requests that send mail, and whose outcome must not tell whether an account exists."""
    reserved = await throttle.reserve(keys)
    if isinstance(reserved, Blocked):
        return Failure(TooManyRequests(reserved.retry_after))
    return Success(None)
