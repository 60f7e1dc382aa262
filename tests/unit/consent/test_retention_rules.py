"""The retention table and the use case that enforces it, on the memory stores."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from adapters.memory import FixedClock
from adapters.memory.retention import MemoryAbandonedAccounts, MemoryRetentionStore
from core.consent.retention import (
    RETENTION,
    RULES,
    Action,
    DataClass,
    EnforceRetention,
    period_text,
)
from core.shared.ids import UserId

NOW = datetime(2027, 3, 1, 3, 23, tzinfo=UTC)
DAY = timedelta(days=1)


def enforce(
    store: MemoryRetentionStore, accounts: MemoryAbandonedAccounts, batch: int = 3
) -> EnforceRetention:
    return EnforceRetention(
        store=store, accounts=accounts, erase=accounts.erase, clock=FixedClock(NOW), batch=batch
    )


def test_every_class_has_exactly_one_rule_with_a_reason() -> None:
    assert [rule.data for rule in RETENTION] == list(DataClass)
    assert all(rule.why and rule.what and rule.starts for rule in RETENTION)
    assert RULES[DataClass.ABANDONED_ACCOUNTS].action is Action.ERASE


def test_the_periods_the_issue_names() -> None:
    periods = {data: RULES[data].period for data in DataClass}

    assert periods[DataClass.AUTH_SESSIONS] == 30 * DAY
    assert periods[DataClass.AUDIT_CLIENTS] == 90 * DAY
    assert periods[DataClass.EXPIRED_HOLDS] == 7 * DAY
    assert periods[DataClass.FINISHED_JOBS] == 7 * DAY  # what remove_finished_jobs kept
    assert periods[DataClass.DEAD_JOBS] == 90 * DAY
    assert periods[DataClass.PRIVACY_EXPORTS] == timedelta(0)
    assert [period_text(p) for p in (timedelta(0), DAY, 30 * DAY)] == [
        "at once",
        "1 day",
        "30 days",
    ]


async def test_a_dry_run_counts_what_is_past_its_period_and_removes_nothing() -> None:
    store, accounts = MemoryRetentionStore(), MemoryAbandonedAccounts()
    store.add(DataClass.AUTH_SESSIONS, NOW - 31 * DAY, NOW - 29 * DAY)
    store.add(DataClass.PRIVACY_EXPORTS, NOW - timedelta(seconds=1), NOW + DAY)
    accounts.accounts[UserId(uuid.uuid4())] = NOW - 40 * DAY
    accounts.accounts[UserId(uuid.uuid4())] = NOW - 10 * DAY

    report = await enforce(store, accounts)(dry_run=True)

    assert report.dry_run
    assert report.count(DataClass.AUTH_SESSIONS) == 1
    assert report.count(DataClass.PRIVACY_EXPORTS) == 1
    assert report.count(DataClass.ABANDONED_ACCOUNTS) == 1
    assert report.count(DataClass.MESSAGES) == 0
    assert len(store.items[DataClass.AUTH_SESSIONS]) == 2
    assert not store.batches
    assert not accounts.erased


async def test_sweeping_goes_in_bounded_batches_until_one_comes_back_short() -> None:
    store, accounts = MemoryRetentionStore(), MemoryAbandonedAccounts()
    store.add(DataClass.FINISHED_JOBS, *(NOW - (8 + n) * DAY for n in range(7)))
    store.add(DataClass.FINISHED_JOBS, NOW - 6 * DAY)

    report = await enforce(store, accounts, batch=3)()

    assert report.count(DataClass.FINISHED_JOBS) == 7
    assert [went for data, went in store.batches if data is DataClass.FINISHED_JOBS] == [3, 3, 1]
    assert store.items[DataClass.FINISHED_JOBS] == [NOW - 6 * DAY]


async def test_abandoned_accounts_go_through_the_erasure_of_the_person() -> None:
    store, accounts = MemoryRetentionStore(), MemoryAbandonedAccounts()
    old = [UserId(uuid.uuid4()) for _ in range(5)]
    recent = UserId(uuid.uuid4())
    for n, person in enumerate(old):
        accounts.accounts[person] = NOW - (31 + n) * DAY
    accounts.accounts[recent] = NOW - 29 * DAY

    report = await enforce(store, accounts, batch=2)()

    assert report.count(DataClass.ABANDONED_ACCOUNTS) == 5
    assert sorted(accounts.erased) == sorted(old)
    assert list(accounts.accounts) == [recent]


async def test_an_erasure_that_completes_later_is_asked_once_per_run() -> None:
    store, accounts = MemoryRetentionStore(), MemoryAbandonedAccounts()
    person = UserId(uuid.uuid4())
    accounts.accounts[person] = NOW - 60 * DAY
    asked: list[UserId] = []

    async def deferred(who: UserId) -> None:  # a job will erase them; the account is still there
        asked.append(who)

    use_case = EnforceRetention(
        store=store, accounts=accounts, erase=deferred, clock=FixedClock(NOW), batch=10
    )
    await use_case()

    assert asked == [person]


async def test_a_store_this_database_does_not_have_yet_is_reported_as_such() -> None:
    store = MemoryRetentionStore(absent={DataClass.AUDIT_CLIENTS})
    store.add(DataClass.AUDIT_CLIENTS, NOW - 100 * DAY)

    wet = await enforce(store, MemoryAbandonedAccounts())()
    dry = await enforce(store, MemoryAbandonedAccounts())(dry_run=True)

    assert wet.count(DataClass.AUDIT_CLIENTS) is None
    assert dry.count(DataClass.AUDIT_CLIENTS) is None


async def test_without_an_erasure_abandoned_accounts_are_kept_and_reported_as_not_enforced() -> (
    None
):
    accounts = MemoryAbandonedAccounts()
    accounts.accounts[UserId(uuid.uuid4())] = NOW - 60 * DAY
    use_case = EnforceRetention(
        store=MemoryRetentionStore(), accounts=accounts, erase=None, clock=FixedClock(NOW)
    )

    assert (await use_case()).count(DataClass.ABANDONED_ACCOUNTS) is None
    assert (await use_case(dry_run=True)).count(DataClass.ABANDONED_ACCOUNTS) == 1
    assert len(accounts.accounts) == 1
