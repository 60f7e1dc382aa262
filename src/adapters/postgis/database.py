"""The async engine every PostGIS repository shares (SQLAlchemy 2 over psycopg 3)."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Measured on these machines: throughput stops rising past ~8 clients, so a small pool is right.
# Fixed size, no overflow: under load an overflowing pool opened ~200 connections in 6 s, each a
# new backend process, just when the database had least time for them. A process serves at most
# POOL_SIZE transactions at once; the rest queue here for up to POOL_TIMEOUT_SECONDS, then fail
# clearly (sqlalchemy.exc.TimeoutError, answered 503 by the HTTP API) instead of hanging.
POOL_SIZE = 8
POOL_TIMEOUT_SECONDS = 10.0
# A waiting lock or a runaway query fails clearly instead of holding a pooled connection forever.
LOCK_TIMEOUT_MS = 5_000
STATEMENT_TIMEOUT_MS = 30_000
IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000


def session_options(lock_timeout_ms: int = LOCK_TIMEOUT_MS) -> str:
    """libpq `options`: server settings applied to every connection when it opens."""
    settings = {
        "lock_timeout": lock_timeout_ms,
        "statement_timeout": STATEMENT_TIMEOUT_MS,
        "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_TIMEOUT_MS,
        "timezone": "UTC",
        # PostGIS functions declare high costs, so wide geo searches cross jit_above_cost and
        # paid ~25 ms of JIT compilation for a query that runs in a few ms: OLTP needs no JIT.
        "jit": "off",
    }
    return " ".join(f"-c {name}={value}" for name, value in settings.items())


def create_engine(
    url: str,
    *,
    pool_size: int = POOL_SIZE,
    max_overflow: int = 0,
    pool_timeout: float = POOL_TIMEOUT_SECONDS,
    lock_timeout_ms: int = LOCK_TIMEOUT_MS,
) -> AsyncEngine:
    """An engine for a `postgresql+psycopg://` URL, with a pool of `pool_size` connections
    (the service never overflows it; some tests do, to open many at once).

    Every connection carries the timeouts above: a seat hold queued behind the occurrence's row
    lock, or an insert waiting on a conflicting uncommitted booking, fails with
    `LockNotAvailable` after `lock_timeout_ms` rather than hanging. No pre-ping: a connection
    that died is reported once and replaced, cheaper than a round trip before every checkout.
    """
    parsed = make_url(url)
    if parsed.drivername != "postgresql+psycopg":
        raise ValueError(f"expected a postgresql+psycopg:// URL, got {parsed.drivername}://")
    return create_async_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=False,
        connect_args={"options": session_options(lock_timeout_ms)},
    )
