"""Retry policies: exponential back-off capped at a ceiling, for as many runs as it takes to
span the stated time, and no more; integrators' webhooks are retried for a day."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from procrastinate.jobs import Job

from adapters.postgis.jobs import (
    DELIVER_WEBHOOK,
    DISPATCH_EVENT,
    JOBS_QUEUES,
    RETRY_POLICIES,
    BackOff,
    queue_of,
    retry_policy,
    runs_to_span,
)

seconds = st.integers(min_value=1, max_value=3600).map(lambda s: timedelta(seconds=s))


def _waited(policy: BackOff, retries: int) -> timedelta:
    """The time the first `retries` waits add up to (counted one by one until they reach the
    ceiling, then all at once: a month of 1-second waits is long to add)."""
    total = timedelta(0)
    for attempts in range(retries):
        wait = policy.wait(attempts)
        if wait == policy.ceiling:
            return total + policy.ceiling * (retries - attempts)
        total += wait
    return total


@given(first=seconds, extra=seconds, span=st.integers(0, 30 * 86400))
def test_the_runs_span_the_time_and_one_fewer_would_not(
    first: timedelta, extra: timedelta, span: int
) -> None:
    ceiling = first + extra
    policy = BackOff.spanning(timedelta(seconds=span), first=first, ceiling=ceiling)
    retries = policy.runs - 1
    assert _waited(policy, retries) >= timedelta(seconds=span)
    assert retries == 0 or _waited(policy, retries - 1) < timedelta(seconds=span)


@given(first=seconds, extra=seconds, attempts=st.integers(0, 200))
def test_waits_double_up_to_the_ceiling(first: timedelta, extra: timedelta, attempts: int) -> None:
    policy = BackOff(first=first, ceiling=first + extra, runs=1000)
    assert first <= policy.wait(attempts) <= first + extra
    assert policy.wait(attempts + 1) in (policy.ceiling, policy.wait(attempts) * 2)


def _job(attempts: int) -> Job:
    return Job(id=1, queue="q", lock=None, queueing_lock=None, task_name="t", attempts=attempts)


def test_procrastinate_is_told_to_retry_until_the_last_run() -> None:
    policy = BackOff(first=timedelta(seconds=30), ceiling=timedelta(minutes=2), runs=4)
    decisions = [policy.get_retry_decision(exception=RuntimeError(), job=_job(a)) for a in range(4)]
    assert [d is None for d in decisions] == [False, False, False, True]
    assert [policy.is_last(a) for a in range(4)] == [False, False, False, True]


def test_integrators_webhooks_are_retried_for_a_day_and_not_much_longer() -> None:
    policy = RETRY_POLICIES[DELIVER_WEBHOOK]
    total = _waited(policy, policy.runs - 1)
    assert timedelta(days=1) <= total < timedelta(days=1) + policy.ceiling
    assert retry_policy(DISPATCH_EVENT) is RETRY_POLICIES[DISPATCH_EVENT]


def test_every_task_has_a_known_queue() -> None:
    assert {queue_of(task) for task in RETRY_POLICIES} <= set(JOBS_QUEUES)
    assert queue_of(DISPATCH_EVENT) == "events"  # the outbox trigger's queue


def test_a_back_off_needs_a_positive_first_wait_under_its_ceiling() -> None:
    with pytest.raises(ValueError, match="0 < first <= ceiling"):
        runs_to_span(timedelta(0), timedelta(1), timedelta(1))
    with pytest.raises(ValueError, match="0 < first <= ceiling"):
        runs_to_span(timedelta(seconds=2), timedelta(seconds=1), timedelta(1))
