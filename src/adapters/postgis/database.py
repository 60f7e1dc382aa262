"""The async engine every PostGIS repository shares (SQLAlchemy 2 over psycopg 3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
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


def session_settings(lock_timeout_ms: int = LOCK_TIMEOUT_MS) -> dict[str, object]:
    """The server settings every connection of the service runs with."""
    return {
        "lock_timeout": lock_timeout_ms,
        "statement_timeout": STATEMENT_TIMEOUT_MS,
        "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_TIMEOUT_MS,
        "timezone": "UTC",
        # PostGIS functions declare high costs, so wide geo searches cross jit_above_cost and
        # paid ~25 ms of JIT compilation for a query that runs in a few ms: OLTP needs no JIT.
        "jit": "off",
    }


def session_options(lock_timeout_ms: int = LOCK_TIMEOUT_MS) -> str:
    """libpq `options`: server settings applied to every connection when it opens."""
    settings = session_settings(lock_timeout_ms)
    return " ".join(f"-c {name}={value}" for name, value in settings.items())


def create_engine(
    url: str,
    *,
    pool_size: int = POOL_SIZE,
    max_overflow: int = 0,
    pool_timeout: float = POOL_TIMEOUT_SECONDS,
    lock_timeout_ms: int = LOCK_TIMEOUT_MS,
    transaction_pooler: bool = False,
) -> AsyncEngine:
    """An engine for a `postgresql+psycopg://` URL, with a pool of `pool_size` connections
    (the service never overflows it; some tests do, to open many at once).

    Every connection carries the timeouts above: a seat hold queued behind the occurrence's row
    lock, or an insert waiting on a conflicting uncommitted booking, fails with
    `LockNotAvailable` after `lock_timeout_ms` rather than hanging. No pre-ping: a connection
    that died is reported once and replaced, cheaper than a round trip before every checkout.

    `transaction_pooler`: the URL is a pooler handing each transaction to any server connection
    (PgBouncer's pool_mode=transaction, docs/adr/0035). psycopg then prepares nothing (a
    statement prepared on one server connection is unknown on the next), and the settings above
    cannot travel as startup `options` (PgBouncer refuses them): they must be the role's
    defaults in that database (`role_defaults_sql`), which each new connection checks.
    """
    parsed = make_url(url)
    if parsed.drivername != "postgresql+psycopg":
        raise ValueError(f"expected a postgresql+psycopg:// URL, got {parsed.drivername}://")
    if transaction_pooler and lock_timeout_ms != LOCK_TIMEOUT_MS:
        raise ValueError("through a transaction pooler the lock timeout is the role's default")
    connect_args: dict[str, Any] = (
        {"prepare_threshold": None}
        if transaction_pooler
        else {"options": session_options(lock_timeout_ms)}
    )
    engine = create_async_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=False,
        connect_args=connect_args,
    )
    if transaction_pooler:
        event.listen(engine.sync_engine, "connect", _require_role_defaults)
    return engine


class PoolerSessionDefaultsMissing(RuntimeError):
    """Through a transaction pooler the role lacks the session settings the service needs."""


# What `_require_role_defaults` reads: without a lock timeout a hold could wait for ever.
_CHECKED_SETTING = "lock_timeout"


def role_defaults_sql(role: str, database: str) -> list[str]:
    """ALTER ROLE statements (run once, as a superuser) giving `role` in `database` the session
    settings that a direct connection sends as startup options: what a transaction pooler
    needs (docs/scaling.md). Names are quoted; values are our own constants."""
    quoted_role = '"' + role.replace('"', '""') + '"'
    quoted_database = '"' + database.replace('"', '""') + '"'
    return [
        f"ALTER ROLE {quoted_role} IN DATABASE {quoted_database} SET {name} = '{value}'"
        for name, value in session_settings().items()
    ]


def _require_role_defaults(dbapi_connection: Any, _record: Any) -> None:
    """On each new pooled connection: fail clearly, not hang later, if the role has no lock
    timeout (one round trip per connection, and the pool keeps its connections)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"SELECT current_setting('{_CHECKED_SETTING}')")
        value = cursor.fetchone()[0]
    finally:
        cursor.close()
        # The query opened a transaction: end it, or the connection is handed out inside one
        # (and the one-trip paths, which switch to autocommit, fail).
        dbapi_connection.rollback()
    if value in ("0", "0ms"):
        raise PoolerSessionDefaultsMissing(
            f"{_CHECKED_SETTING} is 0 through the transaction pooler: give the app role its "
            "session settings in the database (see role_defaults_sql, docs/scaling.md)"
        )
