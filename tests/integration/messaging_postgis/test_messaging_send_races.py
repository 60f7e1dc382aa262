"""SendMessage on PostgreSQL racing the providers' status reports.

A report (`Messages.advance`, its own transaction) and the send job run at the same time, many
times over, with the report landing anywhere in the job: before it marks the message SENDING,
while the provider is called, between the job's read and its write of SENT. Whatever the
interleaving, the status never goes backwards (a DELIVERED never becomes SENT again), the
provider's id is recorded whenever the provider got the mail, and nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta

import attrs
import pytest
from messaging_postgis_support import (
    NOW,
    PostgisStore,
    add_booking,
    add_user,
    add_venue,
    message,
    postgis_store,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.memory.keyring import MemoryKeyring
from adapters.memory.messaging import (
    FakeCalendarWriter,
    FakeRenderer,
    MemoryEmailSender,
    MemoryLinks,
    MemoryWhatsAppSender,
)
from core.messaging import SendMessage
from core.messaging.model import (
    Message,
    MessageKind,
    MessageStatus,
    SendReceipt,
    SendRefused,
    StatusReport,
)
from core.messaging.ports import MessagingUnitOfWork, OutgoingEmail
from core.shared.ids import ProviderId
from core.shared.unit_of_work import MAINTENANCE, Access

ROUNDS = 60
FORWARD = (MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.BOUNCED)


@pytest.fixture
def postgis(engine: AsyncEngine) -> PostgisStore:
    return postgis_store(engine)


class SlowEmail(MemoryEmailSender):
    """The provider takes a moment to answer (its webhook may come first)."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self._rng = rng

    async def send(self, email: OutgoingEmail) -> SendReceipt | SendRefused:
        await asyncio.sleep(self._rng.uniform(0, 0.004))
        return await super().send(email)


async def test_a_report_racing_the_send_job_never_moves_the_status_back(
    postgis: PostgisStore, owner_engine: AsyncEngine
) -> None:
    rng = random.Random(9)
    async with owner_engine.begin() as owner:
        venue = await add_venue(owner, "Lisbon Tennis")
        ana = await add_user(owner, postgis.personal, "ana@example.org")
        booking = await add_booking(owner, venue, ana, NOW + timedelta(days=3))
    email = SlowEmail(rng)

    def opened(access: Access) -> MessagingUnitOfWork:
        return postgis.uow(access)

    send = SendMessage(
        uow=opened,
        clock=FixedClock(NOW),
        keyring=MemoryKeyring(),
        renderer=FakeRenderer(),
        calendar_writer=FakeCalendarWriter(),
        links=MemoryLinks(),
        email=email,
        whatsapp=MemoryWhatsAppSender(),
    )
    outcomes: dict[MessageStatus, int] = {}
    for round_ in range(ROUNDS):
        planned = message(
            recipient=ana,
            provider=ProviderId(venue.provider_id),
            booking_id=booking,
            kind=MessageKind.BOOKING_CONFIRMED,
            dedupe_key=f"race:{uuid.uuid4()}",
        )
        async with postgis.uow(MAINTENANCE) as uow:
            await uow.messages.add(planned)
            await uow.commit()
        status = FORWARD[round_ % len(FORWARD)]

        async def report(planned: Message = planned, status: MessageStatus = status) -> None:
            await asyncio.sleep(rng.uniform(0, 0.012))
            async with postgis.uow(MAINTENANCE) as uow:
                await uow.messages.advance(
                    StatusReport(
                        message_id=planned.id,
                        provider_message_id=None,
                        status=status,
                        at=NOW,
                    )
                )
                await uow.commit()

        await asyncio.gather(send(planned.id), report())
        async with postgis.uow(MAINTENANCE) as uow:
            final = await uow.messages.get(planned.id)
        assert final is not None
        sent = [pid for pid, mail in email.sent if mail.message_id == planned.id]
        assert final.status is status, (round_, final)  # the report's word is never undone
        assert len(sent) <= 1
        assert final.provider_message_id == (sent[0] if sent else None)
        outcomes[final.status] = outcomes.get(final.status, 0) + 1
        # the retried job changes nothing
        await send(planned.id)
        async with postgis.uow(MAINTENANCE) as uow:
            assert await uow.messages.get(planned.id) == final
    assert sum(outcomes.values()) == ROUNDS
    # The race was run in earnest: some reports came before the send, most after it.
    assert 0 < len(email.sent) <= ROUNDS


async def test_recording_sent_after_a_delivery_fills_in_only_the_providers_id(
    postgis: PostgisStore,
) -> None:
    """The compare-and-set itself on PostgreSQL: the job's read is stale by the time it writes."""
    planned = message(status=MessageStatus.SENDING, attempts=1)
    async with postgis.uow(MAINTENANCE) as uow:
        await uow.messages.add(planned)
        await uow.commit()
    async with postgis.uow(MAINTENANCE) as job:
        seen = await job.messages.get(planned.id)
        assert seen is not None
        async with postgis.uow(MAINTENANCE) as webhook:
            await webhook.messages.advance(
                StatusReport(
                    message_id=planned.id,
                    provider_message_id=None,
                    status=MessageStatus.DELIVERED,
                    at=NOW,
                )
            )
            await webhook.commit()
        sent = attrs.evolve(seen, status=MessageStatus.SENT, provider_message_id="sg-1")
        assert not await job.messages.update(sent, expected=seen.status)
        current = await job.messages.get(planned.id)  # READ COMMITTED: the report is seen
        assert current is not None
        assert current.status is MessageStatus.DELIVERED
        filled = attrs.evolve(current, provider_message_id="sg-1")
        assert await job.messages.update(filled, expected=current.status)
        await job.commit()
    async with postgis.uow(MAINTENANCE) as uow:
        stored = await uow.messages.get(planned.id)
    assert stored is not None
    assert (stored.status, stored.provider_message_id) == (MessageStatus.DELIVERED, "sg-1")
