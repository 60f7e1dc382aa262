"""The memory store keeps the ports' promises (the PostGIS contract suite checks the same)."""

from __future__ import annotations

import uuid

import attrs
from messaging_support import DAY, HOUR, NOW, world

from adapters.memory.messaging import MemoryPhoneNumbers
from core.messaging import Channel, Message, MessageId, MessageKind, MessageStatus, StatusReport
from core.shared.ids import BookingId, UserId
from core.shared.unit_of_work import MAINTENANCE


def _message(key: str, at: object = NOW) -> Message:
    return Message(
        id=MessageId(uuid.uuid4()),
        dedupe_key=key,
        kind=MessageKind.BOOKING_CONFIRMED,
        channel=Channel.EMAIL,
        recipient_id=UserId(uuid.uuid4()),
        address="a@example.com",
        locale="en",
        created_at=at,  # type: ignore[arg-type]
        updated_at=at,  # type: ignore[arg-type]
    )


async def test_writes_are_seen_by_others_only_after_commit() -> None:
    app = world()
    message = _message("k")
    async with app.store(MAINTENANCE) as uow:
        assert await uow.messages.add(message)
        assert not await uow.messages.add(attrs.evolve(message, id=MessageId(uuid.uuid4())))
        async with app.store(MAINTENANCE) as other:
            assert await other.messages.get(message.id) is None
        await uow.jobs.send_message(message.id)
    assert app.store.messages == []
    assert app.store.send_queue == []
    async with app.store(MAINTENANCE) as uow:
        assert await uow.messages.add(message)
        await uow.jobs.send_message(message.id)
        await uow.commit()
    assert app.store.messages == [message]
    assert app.store.send_queue == [message.id]


async def test_advance_moves_forward_only_and_learns_the_provider_id() -> None:
    app = world()
    message = _message("k")
    async with app.store(MAINTENANCE) as uow:
        await uow.messages.add(message)

        def report(status: MessageStatus) -> StatusReport:
            return StatusReport(
                message_id=message.id, provider_message_id="p-1", status=status, at=NOW + HOUR
            )

        moved = await uow.messages.advance(report(MessageStatus.DELIVERED))
        assert moved is not None
        assert moved.provider_message_id == "p-1"
        assert await uow.messages.advance(report(MessageStatus.SENT)) is None
        assert await uow.messages.advance(report(MessageStatus.DELIVERED)) is None
        assert await uow.messages.by_provider_id("p-1") == moved


async def test_list_pages_newest_first_by_cursor() -> None:
    app = world()
    messages = [_message(f"k{i}", NOW + i * HOUR) for i in range(5)]
    async with app.store(MAINTENANCE) as uow:
        for message in messages:
            await uow.messages.add(message)
        page = await uow.messages.list(limit=2)
        assert page == [messages[4], messages[3]]
        assert await uow.messages.list(before=page[-1].id, limit=10) == messages[2::-1]


async def test_calendar_chains_keep_their_uid_and_raise_the_sequence() -> None:
    app = world()
    first, second = BookingId(uuid.uuid4()), BookingId(uuid.uuid4())
    async with app.store(MAINTENANCE) as uow:
        assert await uow.calendar.current(first) is None
        uid, one = await uow.calendar.next(first, None)
        assert await uow.calendar.next(second, first) == (uid, one + 1)
        assert await uow.calendar.current(first) == (uid, one + 1)
        assert await uow.calendar.next(first, None) == (uid, one + 2)


async def test_reminders_are_one_per_booking_and_offset() -> None:
    app = world()
    booking = BookingId(uuid.uuid4())
    async with app.store(MAINTENANCE) as uow:
        await uow.jobs.schedule_reminder(booking, 120, NOW + DAY)
        await uow.jobs.schedule_reminder(booking, 120, NOW + 2 * DAY)  # replaces
        await uow.jobs.schedule_reminder(booking, 1440, NOW + HOUR)
        assert await uow.jobs.pending_reminders(booking) == [
            (1440, NOW + HOUR),
            (120, NOW + 2 * DAY),
        ]
        assert await uow.jobs.cancel_reminders(booking) == 2
        assert await uow.jobs.pending_reminders(booking) == []


async def test_addresses_windows_and_feeds() -> None:
    app = world()
    async with app.store(MAINTENANCE) as uow:
        await uow.undeliverable.mark("Ada@Example.com", "bounce", NOW)
        assert await uow.undeliverable.contains("ada@example.com")
        await uow.windows.opened("+4915112345678", NOW + HOUR)
        await uow.windows.opened("+4915112345678", NOW)  # an older one arriving late
        assert await uow.windows.last_inbound("+4915112345678") == NOW + HOUR
        await uow.feeds.issue("customer:x", "d1", NOW)
        await uow.feeds.issue("customer:x", "d2", NOW)
        assert await uow.feeds.owner_of("d1") is None
        assert await uow.feeds.owner_of("d2") == "customer:x"


def test_phone_numbers_by_shape() -> None:
    phones = MemoryPhoneNumbers()
    assert phones.to_e164("+49 151 1234-5678") == "+4915112345678"
    assert phones.to_e164("0049 151 12345678") == "+4915112345678"
    assert phones.to_e164("0151 12345678", "DE") == "+4915112345678"
    assert phones.to_e164("0151 12345678") is None
    assert phones.to_e164("+49 abc") is None
