"""What the HTTP layer needs from the composition root.

Every member but `cors_origins` and `stripe_publishable_key` (plain configuration) is a
zero-argument callable, in practice a container provider, called per request so that overrides
made after the app was built still apply. The use cases come as one mapping from dependency
name to provider, derived from the container: a handler names a use case by declaring a
parameter of that name, and no list here repeats them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import attrs

from core.identity import RateLimiter
from core.shared.idempotency import IdempotencyStore
from core.shared.principal import Authenticator
from entrypoints.http.observability import Observability
from entrypoints.http.rate_limit import RateLimitPolicy
from entrypoints.http.read_your_writes import ReadingAs


@attrs.frozen(kw_only=True)
class Services:
    use_cases: Mapping[str, Callable[[], object]]
    authenticator: Callable[[], Authenticator]
    idempotency: Callable[[], IdempotencyStore]
    rate_limiter: Callable[[], RateLimiter]
    rate_limit_policy: Callable[[], RateLimitPolicy]
    close: Callable[[], Awaitable[None]]  # releases pools and clients when the app stops
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call the API; none: no CORS
    stripe_publishable_key: str | None = None  # handed to browsers paying with Stripe.js
    # replica (ADR 34): names the reader of a request's replica reads; None: no replica.
    reading_as: ReadingAs | None = None
    # observe (issue 12): request ids, /metrics, /health; the default observes nothing outside
    observability: Observability = attrs.field(factory=Observability)
    # Live availability (issue 12): runs this process's relay of booking changes until
    # cancelled (the app runs it for its lifetime); by default, no relay.
    live_relay: Callable[[], Awaitable[None]] | None = None
