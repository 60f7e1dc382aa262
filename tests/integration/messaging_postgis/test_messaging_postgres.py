"""What only PostgreSQL shows: concurrent writers (many reports of one message at once, many
sequences of one calendar chain at once, one dedupe key planned twice at once), the reads of
other contexts' rows (outbox, users, bookings, staff roles), and row-level security through
the app role."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from messaging_postgis_support import (
    HOUR,
    MINUTE,
    NOW,
    PostgisStore,
    Store,
    add_booking,
    add_user,
    add_venue,
    message,
    postgis_store,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from core.messaging.model import (
    ContactPreferences,
    Message,
    MessageId,
    MessageStatus,
    ReminderPlan,
    StatusReport,
)
from core.shared.events import Event
from core.shared.ids import BookingId, EventId, ProviderId, UserId
from core.shared.unit_of_work import MAINTENANCE, PUBLIC, Access


@pytest.fixture
def postgis(engine: AsyncEngine) -> PostgisStore:
    return postgis_store(engine)


async def _add(store: Store, *messages: Message) -> None:
    async with store.uow(MAINTENANCE) as uow:
        for planned in messages:
            await uow.messages.add(planned)
        await uow.commit()


# ---------------------------------------------------------------- concurrency


async def test_concurrent_reports_leave_the_highest_rank(postgis: PostgisStore) -> None:
    planned = message(status=MessageStatus.SENDING)
    await _add(postgis, planned)
    reported = [
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.READ,
        MessageStatus.SPAM_REPORTED,
    ] * 10
    random.Random(9).shuffle(reported)

    async def report(status: MessageStatus, n: int) -> Message | None:
        async with postgis.uow(MAINTENANCE) as uow:
            moved = await uow.messages.advance(
                StatusReport(
                    message_id=planned.id,
                    provider_message_id=None,
                    status=status,
                    at=NOW + n * MINUTE,
                )
            )
            await asyncio.sleep(0)  # hold the row lock across a scheduling point
            await uow.commit()
            return moved

    moved = await asyncio.gather(*(report(s, n) for n, s in enumerate(reported)))
    async with postgis.uow(MAINTENANCE) as uow:
        final = await uow.messages.get(planned.id)

    applied = [m.status for m in moved if m is not None]
    assert final is not None
    assert final.status is MessageStatus.SPAM_REPORTED
    # Each applied report was a step up from what the one before it left: no step went down.
    assert len(applied) == len({s.rank for s in applied}) <= 4
    assert applied.count(MessageStatus.SPAM_REPORTED) == 1


async def test_concurrent_sequences_of_one_chain_are_all_different(postgis: PostgisStore) -> None:
    first, second = BookingId(uuid.uuid4()), BookingId(uuid.uuid4())

    async def next_of(booking: BookingId, rescheduled_from: BookingId | None) -> tuple[str, int]:
        async with postgis.uow(MAINTENANCE) as uow:
            given = await uow.calendar.next(booking, rescheduled_from)
            await asyncio.sleep(0)
            await uow.commit()
            return given

    # The chain does not exist yet: every caller races to start it.
    started = await asyncio.gather(*(next_of(first, None) for _ in range(15)))
    moved = await asyncio.gather(*(next_of(second, first) for _ in range(15)))
    async with postgis.uow(MAINTENANCE) as uow:
        current = await uow.calendar.current(second)

    uids = {uid for uid, _ in [*started, *moved]}
    assert len(uids) == 1
    assert sorted(sequence for _, sequence in [*started, *moved]) == list(range(30))
    assert current == (uids.pop(), 29)


async def test_one_dedupe_key_planned_at_once_is_added_once(postgis: PostgisStore) -> None:
    key = f"event:{uuid.uuid4()}:email:ana"

    async def plan() -> tuple[bool, MessageId]:
        planned = message(dedupe_key=key)
        async with postgis.uow(MAINTENANCE) as uow:
            added = await uow.messages.add(planned)
            await asyncio.sleep(0)
            await uow.commit()
            return added, planned.id

    results = await asyncio.gather(*(plan() for _ in range(20)))
    async with postgis.uow(MAINTENANCE) as uow:
        kept = [await uow.messages.get(id) for _, id in results]

    assert [added for added, _ in results].count(True) == 1
    assert [m is not None for m in kept] == [added for added, _ in results]


# ---------------------------------------------------------------- other contexts' rows


async def test_an_outbox_event_reads_back_and_is_marked_dispatched_once(
    postgis: PostgisStore, owner_engine: AsyncEngine
) -> None:
    event = Event(
        name="bookings.booking_confirmed", occurred_at=NOW, payload={"booking_id": "b-1", "n": 2}
    )
    async with postgis.uow(MAINTENANCE) as uow:
        await uow.outbox.add(event)
        await uow.commit()
    async with postgis.uow(MAINTENANCE) as uow:
        assert await uow.events.get(event.id) == event
        assert await uow.events.get(EventId(uuid.uuid4())) is None
        await uow.events.mark_dispatched(event.id, NOW + MINUTE)
        await uow.events.mark_dispatched(event.id, NOW + HOUR)  # a redelivery
        await uow.commit()
    async with owner_engine.connect() as owner:
        delivered = await owner.scalar(
            sa.text("SELECT delivered_at FROM outbox WHERE id = :id"), {"id": event.id}
        )

    assert delivered == NOW + MINUTE


async def test_a_person_is_the_user_with_their_preferences(
    postgis: PostgisStore, owner_engine: AsyncEngine
) -> None:
    async with owner_engine.begin() as owner:
        ana = await add_user(owner, postgis.personal, "Ana@example.org")
        ben = await add_user(owner, postgis.personal, "ben@example.org", verified=False)
    preferences = ContactPreferences(
        user_id=ana, locale="de", phone="+4915112345678", whatsapp_opt_in_at=NOW
    )
    async with postgis.uow(MAINTENANCE) as uow:
        await uow.preferences.put(preferences)
        await uow.commit()
    async with postgis.uow(MAINTENANCE) as uow:
        anas = await uow.people.get(ana)
        bens = await uow.people.get(ben)
        nobody = await uow.people.get(UserId(uuid.uuid4()))

    assert anas is not None
    assert bens is not None
    assert nobody is None
    assert (anas.email, anas.email_verified, anas.preferences) == (
        "Ana@example.org",
        True,
        preferences,
    )
    assert (bens.email_verified, bens.preferences) == (False, ContactPreferences(user_id=ben))
    assert anas.display_name is None


async def test_booking_facts_join_the_offering_place_provider_and_staff(
    postgis: PostgisStore, owner_engine: AsyncEngine
) -> None:
    async with owner_engine.begin() as owner:
        venue = await add_venue(owner, "Lisbon Tennis")
        other = await add_venue(owner, "Porto Padel")
        personal = postgis.personal
        ana = await add_user(owner, personal, "ana@example.org")
        staff = sorted(
            [
                await add_user(owner, personal, "owner@lt.example", staff_of=[venue.provider_id]),
                await add_user(owner, personal, "desk@lt.example", staff_of=[venue.provider_id]),
            ]
        )
        await add_user(owner, personal, "desk@pp.example", staff_of=[other.provider_id])
        later = await add_booking(owner, venue, ana, NOW + 48 * HOUR)
        earlier = await add_booking(owner, venue, ana, NOW + 24 * HOUR, status="rescheduled")
        moved = await add_booking(
            owner, other, ana, NOW + 30 * HOUR, status="held", rescheduled_from=earlier
        )
    async with postgis.uow(MAINTENANCE) as uow:
        facts = await uow.bookings.facts(later)
        mine = await uow.bookings.of_customer(ana)
        venues = await uow.bookings.of_provider(venue.provider_id)
        missing = await uow.bookings.facts(BookingId(uuid.uuid4()))

    assert facts is not None
    assert missing is None
    assert (facts.booking_id, facts.provider_id, facts.customer_id) == (
        later,
        venue.provider_id,
        ana,
    )
    assert (facts.status, facts.starts, facts.ends) == (
        "confirmed",
        NOW + 48 * HOUR,
        NOW + 49 * HOUR,
    )
    assert (facts.time_zone, facts.offering_name, facts.provider_name, facts.place_name) == (
        "Europe/Lisbon",
        "Tennis hour",
        "Lisbon Tennis",
        "Lisbon Tennis Court",
    )
    assert facts.place_address == "1 Rua Augusta, 1100-048 Lisbon, PT"
    assert (facts.seats, facts.price_minor, facts.currency) == (1, 3000, "EUR")
    assert facts.staff_ids == tuple(staff)
    assert [f.booking_id for f in mine] == [earlier, moved, later]  # by start
    assert mine[1].rescheduled_from == earlier
    assert mine[0].rescheduled_from is None
    assert [f.booking_id for f in venues] == [earlier, later]


async def test_a_provider_without_a_plan_gets_24_and_2_hours(
    engine: AsyncEngine, postgis: PostgisStore
) -> None:
    provider = ProviderId(uuid.uuid4())
    own = ReminderPlan(offsets=(timedelta(hours=48), timedelta(minutes=30)))
    async with postgis.uow(MAINTENANCE) as uow:
        default = await uow.bookings.reminder_plan(provider)
        never_chosen = await uow.reminder_plans.get(provider)
    staff = Access(provider_ids=frozenset({provider}))
    async with postgis.uow(staff) as u:
        await u.reminder_plans.put(provider, own)
        await u.commit()
    async with postgis.uow(PUBLIC) as uow:
        kept = await uow.bookings.reminder_plan(provider)
    async with postgis.uow(staff) as u:
        await u.reminder_plans.put(provider, ReminderPlan(offsets=()))
        await u.commit()
    async with postgis.uow(PUBLIC) as uow:
        none = await uow.bookings.reminder_plan(provider)
        chosen_none = await uow.reminder_plans.get(provider)

    assert default == ReminderPlan() == ReminderPlan(offsets=(24 * HOUR, 2 * HOUR))
    assert never_chosen is None
    assert kept == own
    assert none == chosen_none == ReminderPlan(offsets=())  # chosen: no reminders at all


async def test_only_the_providers_staff_change_its_reminder_plan(
    engine: AsyncEngine, postgis: PostgisStore
) -> None:
    provider = ProviderId(uuid.uuid4())
    other = Access(provider_ids=frozenset({ProviderId(uuid.uuid4())}))
    async with postgis.uow(other) as u:
        with pytest.raises(sa.exc.DBAPIError, match="row-level security"):
            await u.reminder_plans.put(provider, ReminderPlan(offsets=()))
    async with postgis.uow(PUBLIC) as uow:
        assert await uow.reminder_plans.get(provider) is None


# ---------------------------------------------------------------- row-level security


async def test_a_person_reads_only_their_own_messages_and_preferences(
    postgis: PostgisStore, owner_engine: AsyncEngine
) -> None:
    async with owner_engine.begin() as owner:
        ana = await add_user(owner, postgis.personal, "ana@example.org")
        ben = await add_user(owner, postgis.personal, "ben@example.org")
    provider = ProviderId(uuid.uuid4())
    anas, bens = message(recipient=ana, provider=provider), message(recipient=ben)
    await _add(postgis, anas, bens)
    async with postgis.uow(MAINTENANCE) as uow:
        await uow.preferences.put(ContactPreferences(user_id=ben, locale="de"))
        await uow.undeliverable.mark("ben@example.org", "bounce", NOW)
        await uow.commit()

    async with postgis.uow(Access.user(ana)) as uow:
        seen_by_ana = (
            [m.id for m in await uow.messages.list(limit=100)],
            await uow.messages.get(bens.id),
            await uow.messages.list(recipient_id=ben),
            await uow.preferences.get(ben),
            await uow.undeliverable.contains("ben@example.org"),
            await uow.messages.advance(
                StatusReport(
                    message_id=bens.id,
                    provider_message_id=None,
                    status=MessageStatus.DELIVERED,
                    at=NOW,
                )
            ),
        )
    async with postgis.uow(Access.user(ben)) as uow:
        seen_by_ben = (
            [m.id for m in await uow.messages.list(limit=100)],
            await uow.preferences.get(ben),
            await uow.undeliverable.contains("ben@example.org"),
        )
    async with postgis.uow(Access(provider_ids=frozenset({provider}))) as uow:
        seen_by_staff = [m.id for m in await uow.messages.list(limit=100)]
    async with postgis.uow(PUBLIC) as uow:
        seen_by_nobody = [m.id for m in await uow.messages.list(limit=100)]

    assert seen_by_ana == ([anas.id], None, [], None, False, None)
    # Bounced addresses are kept as hashes only, for the worker (maintenance): since
    # migration 0016 nobody else reads them, not even the address's owner.
    assert seen_by_ben == ([bens.id], ContactPreferences(user_id=ben, locale="de"), False)
    assert seen_by_staff == [anas.id]
    assert seen_by_nobody == []


async def test_a_person_cannot_plan_a_message_for_someone_else(
    postgis: PostgisStore, owner_engine: AsyncEngine
) -> None:
    async with owner_engine.begin() as owner:
        ana = await add_user(owner, postgis.personal, "ana@example.org")
    async with postgis.uow(Access.user(ana)) as uow:
        with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
            await uow.messages.add(message(recipient=UserId(uuid.uuid4())))


async def test_a_feed_is_visible_to_its_owner_and_to_whoever_presents_its_digest(
    postgis: PostgisStore,
) -> None:
    ana, provider = UserId(uuid.uuid4()), ProviderId(uuid.uuid4())
    async with postgis.uow(MAINTENANCE) as uow:
        await uow.feeds.issue(f"customer:{ana}", "digest-ana", NOW)
        await uow.feeds.issue(f"provider:{provider}", "digest-provider", NOW)
        await uow.commit()

    async def owner_of(access: Access, digest: str) -> str | None:
        async with postgis.uow(access) as uow:
            return await uow.feeds.owner_of(digest)

    assert await owner_of(Access.user(ana), "digest-ana") == f"customer:{ana}"
    assert await owner_of(Access.user(ana), "digest-provider") is None
    assert await owner_of(Access(provider_ids=frozenset({provider})), "digest-provider") == (
        f"provider:{provider}"
    )
    assert await owner_of(Access.holding("digest-provider"), "digest-provider") == (
        f"provider:{provider}"
    )
    assert await owner_of(PUBLIC, "digest-ana") is None


# ---------------------------------------------------------------- jobs


async def _send_jobs(owner_engine: AsyncEngine) -> list[str]:
    async with owner_engine.connect() as owner:
        found = await owner.execute(
            sa.text("SELECT args->>'message_id' FROM procrastinate_jobs WHERE task_name = :t"),
            {"t": "send_message"},
        )
        return [str(id) for id in found.scalars()]


async def test_a_message_and_its_send_job_exist_exactly_when_the_transaction_commits(
    postgis: PostgisStore, owner_engine: AsyncEngine
) -> None:
    dropped, kept = message(), message()
    async with postgis.uow(MAINTENANCE) as uow:
        await uow.messages.add(dropped)
        await uow.jobs.send_message(dropped.id)  # then the block is left without a commit
    async with postgis.uow(MAINTENANCE) as uow:
        await uow.messages.add(kept)
        await uow.jobs.send_message(kept.id)
        await uow.commit()

    assert await _send_jobs(owner_engine) == [str(kept.id)]


async def test_an_outbox_row_comes_with_its_dispatch_job(
    postgis: PostgisStore, owner_engine: AsyncEngine
) -> None:
    event = Event(name="bookings.booking_confirmed", occurred_at=NOW, payload={})
    async with postgis.uow(MAINTENANCE) as uow:
        await uow.outbox.add(event)
        await uow.commit()
    async with owner_engine.connect() as owner:
        dispatched = await owner.scalar(
            sa.text("SELECT args->>'event_id' FROM procrastinate_jobs WHERE task_name = :t"),
            {"t": "dispatch_event"},
        )

    assert dispatched == str(event.id)
