"""The service's database paths through a real PgBouncer in transaction mode (docs/adr/0035).

PgBouncer hands each transaction to whichever server connection is free, so nothing may
outlive a transaction on a server connection: not a prepared statement (psycopg prepares none
when DATABASE_TRANSACTION_POOLER is set), not a setting (set_config(..., true) only), not a
lock (pg_advisory_xact_lock only). Here 16 client connections share 3 server connections.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import errors
from returns.result import Success
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.postgis.consent import PostgisConsentUnitOfWork
from adapters.postgis.database import PoolerSessionDefaultsMissing, create_engine
from core.consent import Channel, GrantConsent, PolicyKind, PublishPolicy, Purpose, WithdrawConsent
from core.shared.ids import UserId
from core.shared.principal import Principal, Role
from devservers.postgres import LocalPostgres
from scale_support import PooledDatabase, pooled_database

SERVER_CONNECTIONS = 3
CLIENT_CONNECTIONS = 16
ADMIN = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)


@pytest.fixture(scope="module")
def pooled(postgres_server: LocalPostgres) -> Iterator[PooledDatabase]:
    name = f"pooled_{uuid.uuid4().hex[:12]}"
    with pooled_database(postgres_server, name, pool_size=SERVER_CONNECTIONS) as database:
        yield database


@pytest.fixture
async def engine(pooled: PooledDatabase) -> AsyncIterator[AsyncEngine]:
    """The app's engine through PgBouncer, as the container builds it with the setting on."""
    engine = create_engine(pooled.app_url, pool_size=CLIENT_CONNECTIONS, transaction_pooler=True)
    yield engine
    await engine.dispose()


def _server_connections(pooled: PooledDatabase) -> int:
    """Server connections PgBouncer has open to the database (its admin console)."""
    console = psycopg.connect(
        host="127.0.0.1", port=pooled.bouncer.port, user="postgres", dbname="pgbouncer",
        autocommit=True,
    )  # fmt: skip
    with console:
        name = pooled.direct.app_url.rsplit("/", 1)[1]
        rows = console.execute("SHOW SERVERS").fetchall()
        columns = [c.name for c in console.execute("SHOW SERVERS").description or ()]
    return sum(1 for row in rows if dict(zip(columns, row, strict=True))["database"] == name)


async def test_repeated_queries_from_many_clients_share_few_server_connections(
    engine: AsyncEngine, pooled: PooledDatabase
) -> None:
    """Each statement runs far past psycopg's prepare threshold (5) on connections that PgBouncer
    swaps under it: prepared, this fails with 'prepared statement ... does not exist'."""
    statement = sa.text(
        "SELECT count(*) FROM bookings WHERE resource_id = :resource AND status = :status"
    )

    async def client(n: int) -> int:
        done = 0
        for round_ in range(25):
            async with engine.connect() as connection:
                params = {"resource": uuid.uuid4(), "status": "held" if round_ % 2 else "confirmed"}
                done += (await connection.execute(statement, params)).scalar_one() == 0
                await connection.execute(sa.text("SELECT CAST(:n AS int) + 1"), {"n": n})
        return done

    answers = await asyncio.gather(*(client(n) for n in range(CLIENT_CONNECTIONS)))

    assert answers == [25] * CLIENT_CONNECTIONS
    assert 1 <= _server_connections(pooled) <= SERVER_CONNECTIONS


def test_psycopg_prepared_statements_break_through_the_pooler(pooled: PooledDatabase) -> None:
    """Why the setting exists: psycopg's default preparing, two clients, one PgBouncer."""
    conninfo = pooled.app_url.replace("postgresql+psycopg://", "postgresql://")
    broken = (errors.DuplicatePreparedStatement, errors.InvalidSqlStatementName)
    with (
        psycopg.connect(conninfo, autocommit=True) as first,
        psycopg.connect(conninfo, autocommit=True) as second,
        pytest.raises(broken),
    ):
        _alternate(first, second, times=20)


def _alternate(first: psycopg.Connection, second: psycopg.Connection, *, times: int) -> None:
    for n in range(times):
        (first if n % 2 else second).execute("SELECT %s::int", (n,)).fetchone()


async def test_session_settings_are_the_role_defaults(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert isinstance(driver, psycopg.AsyncConnection)
        # The check on connect left no transaction open (one-trip paths switch to autocommit).
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        shown = await connection.execute(
            sa.text(
                "SELECT current_setting('lock_timeout'), current_setting('TimeZone'),"
                " current_setting('statement_timeout'), current_setting('jit')"
            )
        )
        assert tuple(shown.one()) == ("5s", "UTC", "30s", "off")


async def test_a_database_without_role_defaults_fails_clearly(
    postgres_server: LocalPostgres, pooled: PooledDatabase
) -> None:
    bare = postgres_server.create_database(f"bare_{uuid.uuid4().hex[:12]}")
    engine = create_engine(pooled.bouncer.url_for(bare.app_url), transaction_pooler=True)
    try:
        with pytest.raises(PoolerSessionDefaultsMissing, match="lock_timeout is 0"):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()


async def test_transaction_local_settings_and_locks_end_with_the_transaction(
    engine: AsyncEngine,
) -> None:
    """What the unit of work sets (set_config(..., true)) and the advisory locks it takes
    (pg_advisory_xact_lock) are gone when the server connection goes back to the pool."""
    lock = sa.text("SELECT pg_advisory_xact_lock(4242)")
    try_lock = sa.text("SELECT pg_try_advisory_xact_lock(4242)")
    async with engine.begin() as holder:
        await holder.execute(sa.text("SELECT set_config('app.user_id', 'someone', true)"))
        await holder.execute(lock)
        async with engine.begin() as rival:
            assert (await rival.execute(try_lock)).scalar_one() is False
    for _ in range(2 * SERVER_CONNECTIONS):  # every server connection in turn, likely
        async with engine.begin() as later:
            assert (await later.execute(try_lock)).scalar_one() is True
            seen = await later.execute(sa.text("SELECT current_setting('app.user_id', true)"))
            assert seen.scalar_one() in (None, "")


async def test_advisory_locked_appends_stay_one_ledger(engine: AsyncEngine) -> None:
    """The consent ledger serialises appends to one key with pg_advisory_xact_lock: 100
    concurrent decisions through the pooler still number 1..100 without a gap or a twin."""
    store = PostgisConsentUnitOfWork.factory(engine)
    ports = {"uow": store, "clock": FixedClock(datetime(2030, 5, 1, 9, tzinfo=UTC))}
    for kind in PolicyKind:
        await PublishPolicy(**ports)(ADMIN, kind, f"{kind} text", requires_fresh_consent=False)
    person = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))
    grant, withdraw = GrantConsent(**ports), WithdrawConsent(**ports)

    results = await asyncio.gather(
        *(
            (grant if n % 2 else withdraw)(person, Purpose.MARKETING, Channel.WHATSAPP)
            for n in range(100)
        )
    )

    assert all(isinstance(r, Success) for r in results), results
    assert sorted(r.unwrap().seq for r in results) == list(range(1, 101))


def _notifications_heard(listen_url: str, pooled: PooledDatabase) -> int:
    """LISTEN on `listen_url`, let other clients use the pooler, NOTIFY, count what arrives."""
    direct = _libpq(pooled.direct.app_url)
    with psycopg.connect(listen_url, autocommit=True, prepare_threshold=None) as listener:
        listener.execute("LISTEN reserva_jobs")
        with psycopg.connect(_libpq(pooled.app_url), autocommit=True) as other:
            for _ in range(5):
                other.execute("SELECT 1", prepare=False)
        with psycopg.connect(direct, autocommit=True) as notifier:
            notifier.execute("NOTIFY reserva_jobs, 'deferred'")
        return len(list(listener.notifies(timeout=1.0, stop_after=1)))


def test_listen_needs_the_direct_url(pooled: PooledDatabase) -> None:
    """Why DATABASE_DIRECT_URL: the worker's LISTEN through the pooler hears nothing (its
    server connection went back to the pool after the statement); direct, it hears at once."""
    assert _notifications_heard(_libpq(pooled.app_url), pooled) == 0
    assert _notifications_heard(_libpq(pooled.direct.app_url), pooled) == 1


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")
