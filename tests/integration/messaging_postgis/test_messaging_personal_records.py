"""Issue 10 over PostgreSQL: messaging keeps addresses and phones sealed per person (bounces
and service windows by hash only), scrubs provider errors, and its PersonalRecords export and
erase a person (the provider asked to forget first), idempotently; migration 0016 refuses to
drop personal plaintext."""

from __future__ import annotations

import uuid

import pytest
from messaging_postgis_support import NOW, message, postgis_store
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.messaging import MemoryEmailSender
from adapters.postgis import migrate
from adapters.postgis.messaging.records import PostgisMessagingRecords
from core.messaging.model import Channel, ContactPreferences, MessageStatus, StatusReport
from core.shared.ids import UserId
from core.shared.unit_of_work import MAINTENANCE
from devservers.postgres import LocalDatabase
from migration_support import query
from personal_support import postgis_personal
from raw_dump import raw_database

ANA = "Ana.Sealed@Example.org"
PHONE = "+4915123456791"


async def test_addresses_and_phones_are_sealed_and_bounces_compared_by_hash(
    engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    store = postgis_store(engine)
    ana = UserId(uuid.uuid4())
    mail = message(recipient=ana, address=ANA)
    text = message(recipient=ana, address=PHONE, channel=Channel.WHATSAPP)
    async with store.uow(MAINTENANCE) as uow:
        await uow.messages.add(mail)
        await uow.messages.add(text)
        await uow.preferences.put(ContactPreferences(user_id=ana, locale="de", phone=PHONE))
        await uow.undeliverable.mark(f" {ANA} ", f"550 5.1.1 <{ANA}>: no such user", NOW)
        await uow.windows.opened(PHONE, NOW)
        await uow.messages.advance(
            StatusReport(
                message_id=mail.id,
                provider_message_id=None,
                status=MessageStatus.BOUNCED,
                at=NOW,
                detail=f"550 <{ANA.lower()}> rejected; call {PHONE}",
            )
        )
        await uow.commit()

    async with store.uow(MAINTENANCE) as uow:
        read = await uow.messages.get(mail.id)
        preferences = await uow.preferences.get(ana)
        bounced = await uow.undeliverable.contains(ANA.lower())
        window = await uow.windows.last_inbound(PHONE)
    dump = await raw_database(owner_engine)

    assert read is not None
    assert read.address == ANA
    assert read.last_error == "550 <<address>> rejected; call <number>"
    assert preferences is not None
    assert preferences.phone == PHONE
    assert bounced
    assert window == NOW
    for value in (ANA, ANA.lower(), PHONE, PHONE[1:]):
        assert value not in dump


async def test_erasure_forgets_at_the_provider_then_deletes_and_is_idempotent(
    engine: AsyncEngine,
) -> None:
    personal = postgis_personal(engine)
    store = postgis_store(engine, personal)
    email = MemoryEmailSender()
    records = PostgisMessagingRecords(engine, personal, email)
    ana, ben = UserId(uuid.uuid4()), UserId(uuid.uuid4())
    anas = message(recipient=ana, address=ANA)
    bens = message(recipient=ben, address="ben@example.org")
    async with store.uow(MAINTENANCE) as uow:
        for planned in (anas, bens):
            await uow.messages.add(planned)
        await uow.preferences.put(ContactPreferences(user_id=ana, locale="de", phone=PHONE))
        await uow.undeliverable.mark(ANA, "bounce", NOW)
        await uow.windows.opened(PHONE, NOW)
        await uow.commit()

    exported = await records.export(ana)
    await records.erase(ana)
    await records.erase(ana)  # again: nothing left, nothing fails
    await personal.shred(ana)
    await records.erase(ana)  # after the shred too

    assert exported == {
        "messages": [
            {
                "id": str(anas.id),
                "kind": "booking_confirmed",
                "channel": "email",
                "status": "queued",
                "address": ANA,
                "booking_id": str(anas.booking_id),
                "created_at": "2030-03-04T09:00:00Z",
                "updated_at": "2030-03-04T09:00:00Z",
            }
        ],
        "contact_preferences": {
            "locale": "de",
            "whatsapp_phone": PHONE,
            "whatsapp_opt_in_at": None,
        },
    }
    assert email.forgotten == [ANA]  # the rows went with the first erasure
    assert await records.export(ana) == {"messages": [], "contact_preferences": None}
    async with store.uow(MAINTENANCE) as uow:
        assert await uow.messages.get(anas.id) is None
        assert not await uow.undeliverable.contains(ANA)
        assert await uow.windows.last_inbound(PHONE) is None
        assert await uow.messages.get(bens.id) == bens  # nobody else's


async def test_an_erased_recipients_message_reads_with_no_address(engine: AsyncEngine) -> None:
    personal = postgis_personal(engine)
    store = postgis_store(engine, personal)
    ana = UserId(uuid.uuid4())
    anas = message(recipient=ana, address=ANA)
    async with store.uow(MAINTENANCE) as uow:
        await uow.messages.add(anas)
        await uow.commit()
    await personal.shred(ana)
    async with store.uow(MAINTENANCE) as uow:
        (listed,) = await uow.messages.list(recipient_id=ana)
    assert listed.address is None


def test_migration_0016_refuses_to_drop_personal_plaintext(new_database: LocalDatabase) -> None:
    url = new_database.migrator_url
    migrate.upgrade(url, "0015_identity_personal")
    query(
        url,
        "INSERT INTO contact_preferences (user_id, locale, phone) VALUES (:u, 'en', :p)",
        u=uuid.uuid4(),
        p=PHONE,
    )
    with pytest.raises(Exception, match=r"contact_preferences \(1 rows\).*rm -r \.data"):
        migrate.upgrade(url)
    query(url, "DELETE FROM contact_preferences")
    migrate.upgrade(url)
    migrate.downgrade(url, "0015_identity_personal")
    migrate.upgrade(url)
    columns = query(
        url,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'payments'"
        " AND column_name LIKE 'client_ip%' ORDER BY 1",
    )
    assert columns == [("client_ip_hash",), ("client_ip_sealed",)]
