"""One contract for every MessagingUnitOfWork: the in-memory store and PostGIS must agree on
messaging's own rows (messages, preferences, undeliverable addresses, service windows,
calendar sequences and feeds).

Each test runs once per store in STORE_KINDS (messaging_postgis_support.py: the memory store
plugs in there), on PostGIS over a freshly emptied, migrated database, as the app role with
maintenance access (the worker's).
"""

from __future__ import annotations

import uuid

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from messaging_postgis_support import HOUR, MINUTE, NOW, Store, message

from core.messaging.model import ContactPreferences, MessageId, MessageStatus, StatusReport
from core.shared.ids import BookingId, ProviderId, UserId
from core.shared.unit_of_work import MAINTENANCE

# ---------------------------------------------------------------- messages


async def test_nothing_is_kept_without_commit(store: Store) -> None:
    planned = message()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.messages.add(planned)
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.messages.get(planned.id) is None


async def test_a_message_reads_back_exactly_as_written(store: Store) -> None:
    planned = message(provider=ProviderId(uuid.uuid4()), last_error="earlier", attempts=2)
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.messages.add(planned)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.messages.get(planned.id) == planned
        assert await uow.messages.get(MessageId(uuid.uuid4())) is None


async def test_a_second_message_with_the_same_dedupe_key_is_not_added(store: Store) -> None:
    first = message()
    again = message(dedupe_key=first.dedupe_key, address="other@example.org")
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.messages.add(first)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert not await uow.messages.add(again)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.messages.get(first.id) == first
        assert await uow.messages.get(again.id) is None


async def test_an_update_is_found_by_the_providers_id(store: Store) -> None:
    planned = message()
    sent = attrs.evolve(
        planned,
        status=MessageStatus.SENT,
        provider_message_id="sg-123",
        attempts=1,
        updated_at=NOW + MINUTE,
    )
    async with store.uow(MAINTENANCE) as uow:
        await uow.messages.add(planned)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.messages.update(sent, expected=MessageStatus.QUEUED)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.messages.by_provider_id("sg-123") == sent
        assert await uow.messages.by_provider_id("sg-999") is None


async def test_an_update_expecting_a_status_the_message_left_writes_nothing(store: Store) -> None:
    planned = message(status=MessageStatus.SENDING, attempts=1)
    async with store.uow(MAINTENANCE) as uow:
        await uow.messages.add(planned)
        await uow.commit()
    report = StatusReport(
        message_id=planned.id,
        provider_message_id="sg-7",
        status=MessageStatus.DELIVERED,
        at=NOW + MINUTE,
    )
    async with store.uow(MAINTENANCE) as uow:
        delivered = await uow.messages.advance(report)
        await uow.commit()
    stale = attrs.evolve(planned, status=MessageStatus.SENT, provider_message_id="sg-7")
    async with store.uow(MAINTENANCE) as uow:
        assert not await uow.messages.update(stale, expected=MessageStatus.SENDING)
        assert not await uow.messages.update(
            attrs.evolve(stale, id=MessageId(uuid.uuid4())), expected=MessageStatus.SENDING
        )
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.messages.get(planned.id) == delivered
        assert delivered is not None
        assert delivered.status is MessageStatus.DELIVERED


async def _stored(store: Store, status: MessageStatus, provider_id: str | None = None) -> MessageId:
    planned = message(status=status, provider_message_id=provider_id)
    async with store.uow(MAINTENANCE) as uow:
        await uow.messages.add(planned)
        await uow.commit()
    return planned.id


def _report(
    status: MessageStatus,
    message_id: MessageId | None = None,
    provider_message_id: str | None = None,
    at_minutes: int = 1,
    detail: str | None = None,
) -> StatusReport:
    return StatusReport(
        message_id=message_id,
        provider_message_id=provider_message_id,
        status=status,
        at=NOW + at_minutes * MINUTE,
        detail=detail,
    )


async def test_a_report_moves_a_message_forward_and_never_back(store: Store) -> None:
    id = await _stored(store, MessageStatus.SENT)
    async with store.uow(MAINTENANCE) as uow:
        delivered = await uow.messages.advance(_report(MessageStatus.DELIVERED, id))
        late_sent = await uow.messages.advance(_report(MessageStatus.SENT, id))
        again = await uow.messages.advance(_report(MessageStatus.DELIVERED, id))
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        kept = await uow.messages.get(id)

    assert delivered is not None
    assert delivered.status is MessageStatus.DELIVERED
    assert (late_sent, again) == (None, None)
    assert kept == delivered


async def test_a_report_finds_the_message_by_the_providers_id(store: Store) -> None:
    id = await _stored(store, MessageStatus.SENT, provider_id="wamid.1")
    async with store.uow(MAINTENANCE) as uow:
        read = await uow.messages.advance(
            # An id that is not ours (another sender's custom arg) falls back to theirs.
            _report(
                MessageStatus.READ,
                MessageId(uuid.uuid4()),
                provider_message_id="wamid.1",
                detail="seen",
            )
        )
        unknown = await uow.messages.advance(
            _report(MessageStatus.READ, provider_message_id="wamid.2")
        )
        await uow.commit()

    assert read is not None
    assert (read.id, read.status) == (id, MessageStatus.READ)
    assert read.last_error == "seen"
    assert unknown is None


async def test_a_bounce_after_delivery_is_kept_but_not_a_delivery_after_a_bounce(
    store: Store,
) -> None:
    id = await _stored(store, MessageStatus.SENT)
    async with store.uow(MAINTENANCE) as uow:
        bounced = await uow.messages.advance(
            _report(MessageStatus.BOUNCED, id, detail="550 no such user")
        )
        delivered = await uow.messages.advance(_report(MessageStatus.DELIVERED, id))
        dropped = await uow.messages.advance(_report(MessageStatus.DROPPED, id))  # same rank
        await uow.commit()

    assert bounced is not None
    assert bounced.status is MessageStatus.BOUNCED
    assert bounced.last_error == "550 no such user"
    assert (delivered, dropped) == (None, None)


async def test_a_report_about_an_unknown_message_changes_none(store: Store) -> None:
    unsent = await _stored(store, MessageStatus.SENDING)  # no provider id yet
    async with store.uow(MAINTENANCE) as uow:
        by_our_id = await uow.messages.advance(
            _report(MessageStatus.DELIVERED, MessageId(uuid.uuid4()))
        )
        by_neither = await uow.messages.advance(_report(MessageStatus.DELIVERED))
        by_theirs = await uow.messages.advance(
            _report(MessageStatus.DELIVERED, provider_message_id="sg-unknown")
        )
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        kept = await uow.messages.get(unsent)

    assert (by_our_id, by_neither, by_theirs) == (None, None, None)
    assert kept is not None
    assert kept.status is MessageStatus.SENDING


async def test_a_report_by_our_id_records_the_providers_id_once(store: Store) -> None:
    id = await _stored(store, MessageStatus.SENDING)
    async with store.uow(MAINTENANCE) as uow:
        sent = await uow.messages.advance(
            _report(MessageStatus.SENT, id, provider_message_id="sg-1")
        )
        delivered = await uow.messages.advance(
            _report(MessageStatus.DELIVERED, id, provider_message_id="sg-1.filter")
        )
        await uow.commit()

    assert sent is not None
    assert delivered is not None
    assert (sent.provider_message_id, delivered.provider_message_id) == ("sg-1", "sg-1")


REPORTED = st.sampled_from(
    [s for s in MessageStatus if s not in (MessageStatus.QUEUED, MessageStatus.SUPPRESSED)]
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(statuses=st.lists(REPORTED, min_size=1, max_size=8))
async def test_whatever_the_order_the_first_report_of_the_highest_rank_wins(
    store: Store, statuses: list[MessageStatus]
) -> None:
    id = await _stored(store, MessageStatus.SENDING)
    for minute, status in enumerate(statuses):
        async with store.uow(MAINTENANCE) as uow:
            await uow.messages.advance(_report(status, id, at_minutes=minute))
            await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        final = await uow.messages.get(id)

    best = max(MessageStatus.SENDING.rank, *(s.rank for s in statuses))
    first_best = next((s for s in statuses if s.rank == best), MessageStatus.SENDING)
    assert final is not None
    assert final.status is first_best


async def test_lists_are_newest_first_and_pages_follow_the_cursor(store: Store) -> None:
    ana, ben = UserId(uuid.uuid4()), UserId(uuid.uuid4())
    provider = ProviderId(uuid.uuid4())
    anas = [
        message(recipient=ana, provider=provider, created_at=NOW + n * MINUTE) for n in range(7)
    ]
    # Two at the same instant: the id breaks the tie, the same way in every store.
    twins = [message(recipient=ana, created_at=NOW + HOUR) for _ in range(2)]
    bens = [
        message(
            recipient=ben, provider=provider, status=MessageStatus.FAILED, created_at=NOW + 2 * HOUR
        )
    ]
    async with store.uow(MAINTENANCE) as uow:
        for planned in [*anas, *twins, *bens]:
            await uow.messages.add(planned)
        await uow.commit()

    expected = sorted([*anas, *twins], key=lambda m: (m.created_at, m.id), reverse=True)
    pages: list[list[MessageId]] = []
    cursor: MessageId | None = None
    async with store.uow(MAINTENANCE) as uow:
        while True:
            page = await uow.messages.list(recipient_id=ana, before=cursor, limit=4)
            if not page:
                break
            pages.append([m.id for m in page])
            cursor = page[-1].id
        of_provider = await uow.messages.list(provider_id=provider)
        failed = await uow.messages.list(status=MessageStatus.FAILED)
        everyone = await uow.messages.list(limit=100)

    assert [len(page) for page in pages] == [4, 4, 1]
    assert [id for page in pages for id in page] == [m.id for m in expected]
    assert [m.id for m in of_provider] == [bens[0].id, *(m.id for m in reversed(anas))]
    assert [m.id for m in failed] == [bens[0].id]
    assert len(everyone) == 10


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    minutes=st.lists(st.integers(min_value=0, max_value=5), min_size=0, max_size=12),
    page_size=st.integers(min_value=1, max_value=5),
)
async def test_pages_hold_every_message_once_newest_first(
    store: Store, minutes: list[int], page_size: int
) -> None:
    """Whatever the ties in created_at, following the cursor reads each message exactly once."""
    reader = UserId(uuid.uuid4())
    planned = [message(recipient=reader, created_at=NOW + m * MINUTE) for m in minutes]
    async with store.uow(MAINTENANCE) as uow:
        for one in planned:
            await uow.messages.add(one)
        await uow.commit()

    read: list[MessageId] = []
    cursor: MessageId | None = None
    async with store.uow(MAINTENANCE) as uow:
        while page := await uow.messages.list(recipient_id=reader, before=cursor, limit=page_size):
            assert len(page) <= page_size
            read.extend(m.id for m in page)
            cursor = page[-1].id

    newest_first = sorted(planned, key=lambda m: (m.created_at, m.id.int), reverse=True)
    assert read == [m.id for m in newest_first]


# ---------------------------------------------------------------- contacts


async def test_preferences_are_kept_and_replaced(store: Store) -> None:
    ana = UserId(uuid.uuid4())
    first = ContactPreferences(user_id=ana, locale="de", phone="+4915112345678")
    second = ContactPreferences(
        user_id=ana, locale="en", phone="+351912345678", whatsapp_opt_in_at=NOW
    )
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.preferences.get(ana) is None
        await uow.preferences.put(first)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.preferences.get(ana) == first
        await uow.preferences.put(second)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.preferences.get(ana) == second


async def test_an_undeliverable_address_is_known_whatever_its_case(store: Store) -> None:
    async with store.uow(MAINTENANCE) as uow:
        await uow.undeliverable.mark("Ana@Example.org", "bounce: 550", NOW)
        await uow.undeliverable.mark("ana@example.org", "bounce again", NOW + HOUR)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.undeliverable.contains("ana@example.org")
        assert await uow.undeliverable.contains("ANA@EXAMPLE.ORG")
        assert not await uow.undeliverable.contains("ben@example.org")


async def test_the_service_window_keeps_the_latest_inbound_message(store: Store) -> None:
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.windows.last_inbound("+351912345678") is None
        await uow.windows.opened("+351912345678", NOW + HOUR)
        await uow.windows.opened("+351912345678", NOW)  # a late webhook about an older one
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.windows.last_inbound("+351912345678") == NOW + HOUR
        assert await uow.windows.last_inbound("+4915112345678") is None


# ---------------------------------------------------------------- calendar


async def test_a_booking_chain_keeps_its_uid_and_raises_its_sequence(store: Store) -> None:
    first, second, other = (BookingId(uuid.uuid4()) for _ in range(3))
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.calendar.current(first) is None
        uid, s0 = await uow.calendar.next(first, None)
        _, s1 = await uow.calendar.next(first, None)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        moved_uid, s2 = await uow.calendar.next(second, first)  # rescheduled from `first`
        _, s3 = await uow.calendar.next(second, first)
        other_uid, other_first = await uow.calendar.next(other, None)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.calendar.current(first) == (uid, s3)
        assert await uow.calendar.current(second) == (uid, s3)

    assert uid == f"{first}@reserva"
    assert moved_uid == uid != other_uid
    # Where a chain starts (PostGIS: 0, as RFC 5545 says) is each store's; each step is one.
    assert (s1, s2, s3) == (s0 + 1, s0 + 2, s0 + 3)
    assert other_first == s0


async def test_a_booking_rescheduled_from_one_never_sent_takes_its_name(store: Store) -> None:
    before, after = BookingId(uuid.uuid4()), BookingId(uuid.uuid4())
    async with store.uow(MAINTENANCE) as uow:
        uid, _ = await uow.calendar.next(after, before)
        await uow.commit()

    assert uid == f"{before}@reserva"


async def test_a_feed_is_found_by_its_digest_and_issuing_again_replaces_it(store: Store) -> None:
    owner = f"customer:{uuid.uuid4()}"
    provider = f"provider:{uuid.uuid4()}"
    async with store.uow(MAINTENANCE) as uow:
        await uow.feeds.issue(owner, "digest-1", NOW)
        await uow.feeds.issue(provider, "digest-p", NOW)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.feeds.owner_of("digest-1") == owner
        await uow.feeds.issue(owner, "digest-2", NOW + HOUR)
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.feeds.owner_of("digest-1") is None
        assert await uow.feeds.owner_of("digest-2") == owner
        assert await uow.feeds.owner_of("digest-p") == provider


@pytest.mark.parametrize("limit", [1, 3])
async def test_a_cursor_that_names_no_message_gives_an_empty_page(store: Store, limit: int) -> None:
    async with store.uow(MAINTENANCE) as uow:
        await uow.messages.add(message())
        await uow.commit()
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.messages.list(before=MessageId(uuid.uuid4()), limit=limit) == []
