"""Jobs exist exactly when the transaction that deferred them commits: through `defer`, through
the outbox trigger, and through messaging's `Jobs` port (reminders replace, cancel, list)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from jobs_support import job_rows, rows
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.jobs import (
    DISPATCH_EVENT,
    EVENTS_QUEUE,
    SEND_MESSAGE,
    SEND_REMINDER,
    AlreadyQueued,
    PostgisJobs,
    defer,
    libpq_conninfo,
)
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from core.messaging.model import MessageId
from core.shared.events import Event
from core.shared.ids import BookingId
from core.shared.unit_of_work import Access

NOW = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)


class Uow(PostgisUnitOfWork):
    """A unit of work with messaging's jobs, as H3's messaging unit of work has them."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, Access(all_rows=True))
        self.jobs = PostgisJobs(self)


async def test_a_job_deferred_in_a_rolled_back_transaction_does_not_exist(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection, connection.begin() as transaction:
        job_id = await defer(connection, SEND_MESSAGE, {"message_id": "m1"}, queue="messages")
        assert job_id > 0
        seen = await connection.execute(sa.text("SELECT count(*) FROM procrastinate_jobs"))
        assert seen.scalar_one() == 1  # inside the transaction, it is there
        await transaction.rollback()

    assert await job_rows(engine) == []


async def test_a_job_deferred_in_a_committed_transaction_is_waiting(engine: AsyncEngine) -> None:
    at = NOW + timedelta(days=400)
    async with engine.begin() as connection:
        job_id = await defer(
            connection, SEND_MESSAGE, {"message_id": "m1"}, queue="messages", schedule_at=at
        )

    [job] = await job_rows(engine)
    assert (job.id, job.task_name, job.queue_name) == (job_id, SEND_MESSAGE, "messages")
    assert (job.args, job.status, job.attempts) == ({"message_id": "m1"}, "todo", 0)
    assert job.scheduled_at == at


async def test_a_naive_schedule_is_refused(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        with pytest.raises(ValueError, match="aware"):
            await defer(
                connection, SEND_MESSAGE, {}, queue="messages", schedule_at=datetime(2026, 1, 1)
            )


async def test_a_second_job_with_a_waiting_queueing_lock_is_refused_and_the_transaction_goes_on(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as connection:
        first = await defer(connection, SEND_MESSAGE, {"n": 1}, queue="q", queueing_lock="one")
        with pytest.raises(AlreadyQueued, match="one"):
            await defer(connection, SEND_MESSAGE, {"n": 2}, queue="q", queueing_lock="one")
        other = await defer(connection, SEND_MESSAGE, {"n": 3}, queue="q")

    assert [job.id for job in await job_rows(engine)] == [first, other]


async def test_an_outbox_row_defers_its_dispatch_job_in_the_same_transaction(
    engine: AsyncEngine,
) -> None:
    event = Event(name="bookings.booking_confirmed", occurred_at=NOW, payload={"booking": "b"})
    async with Uow(engine) as uow:
        await uow.outbox.add(event)
        inside = await uow.connection.execute(
            sa.text("SELECT task_name, queue_name, args FROM procrastinate_jobs")
        )
        assert inside.all() == [(DISPATCH_EVENT, EVENTS_QUEUE, {"event_id": str(event.id)})]
        # not committed: leaving the block rolls back the event and its job together

    assert await job_rows(engine) == []

    async with Uow(engine) as uow:
        await uow.outbox.add(event)
        await uow.commit()
    [job] = await job_rows(engine)
    assert (job.task_name, job.args, job.status) == (
        DISPATCH_EVENT,
        {"event_id": str(event.id)},
        "todo",
    )


async def test_each_event_of_one_insert_gets_its_own_job(engine: AsyncEngine) -> None:
    events = [Event(name="x.happened", occurred_at=NOW, payload={"n": n}) for n in range(3)]
    async with Uow(engine) as uow:
        await uow.outbox.add(*events)
        await uow.commit()

    jobs = await job_rows(engine)
    assert sorted(job.args["event_id"] for job in jobs) == sorted(str(e.id) for e in events)


async def test_send_message_is_deferred_on_the_messages_queue(engine: AsyncEngine) -> None:
    message = MessageId(uuid.uuid4())
    async with Uow(engine) as uow:
        await uow.jobs.send_message(message)
        await uow.commit()

    [job] = await job_rows(engine)
    assert (job.task_name, job.queue_name, job.args) == (
        SEND_MESSAGE,
        "messages",
        {"message_id": str(message)},
    )


async def test_reminders_are_one_per_booking_and_offset_and_rescheduling_replaces_them(
    engine: AsyncEngine,
) -> None:
    booking, other = BookingId(uuid.uuid4()), BookingId(uuid.uuid4())
    start = NOW + timedelta(days=3)
    async with Uow(engine) as uow:
        await uow.jobs.schedule_reminder(booking, 1440, start - timedelta(minutes=1440))
        await uow.jobs.schedule_reminder(booking, 120, start - timedelta(minutes=120))
        await uow.jobs.schedule_reminder(other, 120, start)
        await uow.commit()

    moved = start + timedelta(days=1)
    async with Uow(engine) as uow:
        assert await uow.jobs.pending_reminders(booking) == [
            (1440, start - timedelta(minutes=1440)),
            (120, start - timedelta(minutes=120)),
        ]
        await uow.jobs.schedule_reminder(booking, 1440, moved - timedelta(minutes=1440))
        await uow.jobs.schedule_reminder(booking, 120, moved - timedelta(minutes=120))
        await uow.commit()

    async with Uow(engine) as uow:
        assert await uow.jobs.pending_reminders(booking) == [
            (1440, moved - timedelta(minutes=1440)),
            (120, moved - timedelta(minutes=120)),
        ]
    reminders = [job for job in await job_rows(engine) if job.task_name == SEND_REMINDER]
    assert len(reminders) == 3  # the replaced ones are gone, not cancelled beside the new
    assert {job.queueing_lock for job in reminders} == {
        f"reminder:{booking}:1440",
        f"reminder:{booking}:120",
        f"reminder:{other}:120",
    }


async def test_cancelling_removes_only_the_bookings_waiting_reminders(
    engine: AsyncEngine,
) -> None:
    booking, other = BookingId(uuid.uuid4()), BookingId(uuid.uuid4())
    async with Uow(engine) as uow:
        for offset in (1440, 120):
            await uow.jobs.schedule_reminder(booking, offset, NOW)
        await uow.jobs.schedule_reminder(other, 120, NOW)
        await uow.commit()

    async with Uow(engine) as uow:
        assert await uow.jobs.cancel_reminders(booking) == 2
        # rolled back: nothing removed
    async with Uow(engine) as uow:
        assert await uow.jobs.cancel_reminders(booking) == 2
        assert await uow.jobs.cancel_reminders(booking) == 0
        await uow.commit()

    async with Uow(engine) as uow:
        assert await uow.jobs.pending_reminders(booking) == []
        assert await uow.jobs.pending_reminders(other) == [(120, NOW)]


async def test_finding_a_bookings_reminders_uses_the_partial_index(engine: AsyncEngine) -> None:
    plan = await rows(
        engine,
        "EXPLAIN (FORMAT TEXT) SELECT 1 FROM procrastinate_jobs WHERE task_name = 'send_reminder'"
        " AND status = 'todo' AND (args->>'booking_id') = 'x'",
    )
    # An empty table may still be scanned sequentially; the index must at least be usable.
    async with engine.connect() as connection:
        await connection.execute(sa.text("SET LOCAL enable_seqscan = off"))
        forced = await connection.execute(
            sa.text(
                "EXPLAIN SELECT 1 FROM procrastinate_jobs WHERE task_name = 'send_reminder'"
                " AND status = 'todo' AND (args->>'booking_id') = 'x'"
            )
        )
        assert "ix_jobs_waiting_reminders" in " ".join(row[0] for row in forced)
    assert plan


def test_sqlalchemy_urls_become_libpq_ones() -> None:
    assert libpq_conninfo("postgresql+psycopg://u:p@h:5/d") == "postgresql://u:p@h:5/d"
    assert libpq_conninfo("postgresql://u@h/d") == "postgresql://u@h/d"
    with pytest.raises(ValueError, match="psycopg"):
        libpq_conninfo("mysql://u@h/d")
