"""The retention functions of migration 0019 over a migrated database, called by the app role:
what each class removes, in batches, and what it leaves."""

from __future__ import annotations

import importlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from jobs_support import rows
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory import FixedClock
from adapters.postgis.jobs import defer
from adapters.postgis.retention import PostgisAbandonedAccounts, PostgisRetentionStore
from core.consent.retention import RETENTION, DataClass, EnforceRetention
from core.shared.ids import UserId
from core.shared.personal import PersonalData
from personal_support import PERSONAL_TABLES, insert_user, postgis_personal

_MIGRATION = importlib.import_module("adapters.postgis.migrations.versions.0019_retention")
NOW = datetime.now(UTC)
DAY = timedelta(days=1)
IDENTITY = "users, auth_sessions, refresh_tokens, one_time_tokens, user_staff_roles, " + (
    PERSONAL_TABLES
)


@pytest.fixture
async def clean(engine: AsyncEngine, owner_engine: AsyncEngine) -> AsyncEngine:
    async with owner_engine.begin() as connection:
        await connection.execute(sa.text(f"TRUNCATE {IDENTITY} CASCADE"))
    return engine


@pytest.fixture
def personal(clean: AsyncEngine) -> PersonalData:
    """One per test: the lookup key its first hash stores opens with its keyring only."""
    return postgis_personal(clean)


async def _user(
    owner: AsyncEngine, personal: PersonalData, *, created: datetime, verified: bool = False
) -> uuid.UUID:
    user_id = uuid.uuid4()
    await insert_user(
        owner,
        personal,
        user_id,
        f"{user_id.hex[:10]}@example.org",
        verified_at=created if verified else None,
        created_at=created,
    )
    return user_id


async def _session(
    owner: AsyncEngine, user_id: uuid.UUID, *, expires: datetime, revoked: datetime | None = None
) -> uuid.UUID:
    session_id = uuid.uuid4()
    async with owner.begin() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO auth_sessions (id, user_id, created_at, last_used_at, expires_at,"
                " aal, amr, revoked_at) VALUES (:id, :u, :c, :c, :x, 'aal1', ARRAY['pwd'], :r)"
            ),
            {"id": session_id, "u": user_id, "c": expires - 30 * DAY, "x": expires, "r": revoked},
        )
        await connection.execute(
            sa.text(
                "INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at)"
                " VALUES (:id, :s, :h, :c, :c)"
            ),
            {"id": uuid.uuid4(), "s": session_id, "h": uuid.uuid4().hex, "c": expires},
        )
    return session_id


async def test_every_class_counts_and_sweeps_on_this_schema(clean: AsyncEngine) -> None:
    store = PostgisRetentionStore(clean)

    for rule in RETENTION:
        if rule.data is DataClass.ABANDONED_ACCOUNTS:
            continue
        assert await store.count(rule.data, NOW - rule.period) == 0
        assert await store.sweep(rule.data, NOW - rule.period, 10) == 0


async def test_sessions_go_thirty_days_after_they_ended_with_their_refresh_tokens(
    clean: AsyncEngine, owner_engine: AsyncEngine, personal: PersonalData
) -> None:
    user = await _user(owner_engine, personal, created=NOW - 400 * DAY, verified=True)
    expired = await _session(owner_engine, user, expires=NOW - 31 * DAY)
    revoked = await _session(owner_engine, user, expires=NOW + DAY, revoked=NOW - 40 * DAY)
    recent = await _session(owner_engine, user, expires=NOW - 2 * DAY)
    live = await _session(owner_engine, user, expires=NOW + 10 * DAY)
    store = PostgisRetentionStore(clean)

    assert await store.count(DataClass.AUTH_SESSIONS, NOW - 30 * DAY) == 2
    assert await store.count(DataClass.REFRESH_TOKENS, NOW - DAY) == 3
    assert await store.sweep(DataClass.AUTH_SESSIONS, NOW - 30 * DAY, 1) == 1
    assert await store.sweep(DataClass.AUTH_SESSIONS, NOW - 30 * DAY, 1) == 1
    assert await store.sweep(DataClass.REFRESH_TOKENS, NOW - DAY, 10) == 1

    left = await rows(owner_engine, "SELECT id FROM auth_sessions")
    assert {row.id for row in left} == {recent, live}
    tokens = await rows(owner_engine, "SELECT session_id FROM refresh_tokens")
    assert [row.session_id for row in tokens] == [live]
    assert {expired, revoked}.isdisjoint(row.id for row in left)


async def test_used_or_expired_one_time_tokens_go_after_a_week(
    clean: AsyncEngine, owner_engine: AsyncEngine, personal: PersonalData
) -> None:
    user = await _user(owner_engine, personal, created=NOW - 400 * DAY, verified=True)
    async with owner_engine.begin() as connection:
        for expires, used in ((NOW - 8 * DAY, None), (NOW + DAY, NOW - 9 * DAY), (NOW, None)):
            await connection.execute(
                sa.text(
                    "INSERT INTO one_time_tokens (id, user_id, purpose, token_hash, created_at,"
                    " expires_at, used_at) VALUES (:id, :u, 'password_reset', :h, :c, :x, :used)"
                ),
                {
                    "id": uuid.uuid4(),
                    "u": user,
                    "h": uuid.uuid4().hex,
                    "c": expires - DAY,
                    "x": expires,
                    "used": used,
                },
            )

    store = PostgisRetentionStore(clean)
    assert await store.sweep(DataClass.ONE_TIME_TOKENS, NOW - 7 * DAY, 10) == 2
    assert len(await rows(owner_engine, "SELECT id FROM one_time_tokens")) == 1


async def test_abandoned_accounts_are_listed_for_erasure_and_others_are_not(
    clean: AsyncEngine, owner_engine: AsyncEngine, personal: PersonalData
) -> None:
    abandoned = await _user(owner_engine, personal, created=NOW - 31 * DAY)
    await _user(owner_engine, personal, created=NOW - 29 * DAY)  # may still verify
    await _user(owner_engine, personal, created=NOW - 90 * DAY, verified=True)
    staff = await _user(owner_engine, personal, created=NOW - 90 * DAY)
    async with owner_engine.begin() as connection:
        await connection.execute(
            sa.text("INSERT INTO user_staff_roles (user_id, provider_id) VALUES (:u, :p)"),
            {"u": staff, "p": uuid.uuid4()},
        )
    accounts = PostgisAbandonedAccounts(clean)
    erased: list[UserId] = []

    async def erase(person: UserId) -> None:
        erased.append(person)
        async with owner_engine.begin() as connection:
            await connection.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": person})

    assert await accounts.count(NOW - 30 * DAY) == 1
    use_case = EnforceRetention(
        store=PostgisRetentionStore(clean),
        accounts=accounts,
        erase=erase,
        clock=FixedClock(NOW),
    )
    report = await use_case()

    assert erased == [abandoned]
    assert report.count(DataClass.ABANDONED_ACCOUNTS) == 1


async def test_a_job_a_periodic_tick_still_points_at_is_removed_all_the_same(
    clean: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    async with clean.begin() as connection:
        job = await defer(connection, "retired_tick", {}, queue="maintenance")
    async with owner_engine.begin() as connection:
        await connection.execute(
            sa.text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :id"),
            {"id": job},
        )
        await connection.execute(
            sa.text("UPDATE procrastinate_events SET at = now() - interval '8 days'"
                    " WHERE job_id = :id"),
            {"id": job},
        )  # fmt: skip
        await connection.execute(
            sa.text(
                "INSERT INTO procrastinate_periodic_defers (task_name, defer_timestamp, job_id)"
                " VALUES ('retired_tick', 1, :id)"
            ),
            {"id": job},
        )

    went = await PostgisRetentionStore(clean).sweep(DataClass.FINISHED_JOBS, NOW - 7 * DAY, 10)

    assert went == 1
    [tick] = await rows(owner_engine, "SELECT job_id FROM procrastinate_periodic_defers")
    assert tick.job_id is None


@pytest.mark.parametrize("data", sorted(_MIGRATION.SWEEPS))
async def test_every_sweep_finds_its_rows_through_an_index(
    clean: AsyncEngine, owner_engine: AsyncEngine, data: str
) -> None:
    """The rows a class's sweep takes (migration 0019's SWEEPS), planned over empty tables with
    sequential scans off: a scan of the whole table would still show up as a Seq Scan."""
    table, _key, due = _MIGRATION.SWEEPS[data]
    query = f"SELECT t.* FROM {table} t WHERE {due}".replace("cut", "now()")  # noqa: S608
    async with owner_engine.begin() as connection:
        await connection.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join((await connection.execute(sa.text(f"EXPLAIN {query}"))).scalars())

    assert "Seq Scan" not in plan, plan
