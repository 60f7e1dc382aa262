"""Messaging's part of a person's export and erasure (`PersonalRecords`, section "messages").

Export: every message sent (or planned) to the person — kind, channel, status, the address it
went to, when it was created and last changed, its booking — and their contact preferences
(locale, WhatsApp number, WhatsApp opt-in).

Erasure, in this order, each step idempotent:
1. ask the email provider to forget each address the person's messages went to
   (`EmailSender.forget`: SendGrid's suppression lists). This needs the addresses readable, so
   messaging's erasure must run BEFORE the person's data key is shredded; run after it, the
   addresses open to None and nothing can be asked of the provider (our rows still go).
   WhatsApp's Cloud API deletes nothing: only our copies go.
2. cancel the pending reminder jobs of the person's bookings (a reminder planned after
   erasure would address nobody: the person is gone from identity, but a reminder running
   between this step and identity's would seal a new address for them);
3. delete their messages, contact preferences, their number's WhatsApp service window and
   the bounce marks of their addresses (hashes), in one transaction.
A provider that cannot be reached raises SendFailedTemporarily before anything is deleted:
the erasure job runs again and starts over.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.bookings.tables import bookings
from adapters.postgis.messaging.personal import ADDRESS, PHONE, address_hash, phone_hash
from adapters.postgis.messaging.tables import (
    contact_preferences,
    messages,
    undeliverable_addresses,
    whatsapp_windows,
)
from adapters.postgis.messaging.unit_of_work import PostgisMessagingUnitOfWork
from core.consent.records import Json, PersonalRecords, export_time
from core.messaging.model import Channel
from core.messaging.ports import EmailSender
from core.shared.ids import BookingId, UserId
from core.shared.personal import PersonalData
from core.shared.unit_of_work import MAINTENANCE

M = messages.c
P = contact_preferences.c


class PostgisMessagingRecords(PersonalRecords):
    def __init__(self, engine: AsyncEngine, personal: PersonalData, email: EmailSender) -> None:
        self._engine = engine
        self._personal = personal
        self._email = email

    @property
    def section(self) -> str:
        return "messages"

    def _uow(self) -> PostgisMessagingUnitOfWork:
        # Maintenance: the export includes messages a provider's staff sent the person too.
        return PostgisMessagingUnitOfWork(self._engine, MAINTENANCE, personal=self._personal)

    async def export(self, person: UserId) -> Json:
        query = (
            sa.select(
                M.id,
                M.kind,
                M.channel,
                M.status,
                M.address_sealed,
                M.booking_id,
                M.created_at,
                M.updated_at,
            )
            .where(M.recipient_id == person)
            .order_by(M.created_at, M.id)
        )
        async with self._uow() as uow:
            rows = (await uow.connection.execute(query)).all()
            preferences = await uow.preferences.get(person)
        listed: list[Json] = []
        for row in rows:
            address = await self._personal.open(person, row.address_sealed, field=ADDRESS)
            listed.append(
                {
                    "id": str(row.id),
                    "kind": row.kind,
                    "channel": row.channel,
                    "status": row.status,
                    "address": address,  # None: erased
                    "booking_id": None if row.booking_id is None else str(row.booking_id),
                    "created_at": export_time(row.created_at),
                    "updated_at": export_time(row.updated_at),
                }
            )
        contact: Json = None
        if preferences is not None:
            contact = {
                "locale": preferences.locale,
                "whatsapp_phone": preferences.phone,
                "whatsapp_opt_in_at": export_time(preferences.whatsapp_opt_in_at),
            }
        return {"messages": listed, "contact_preferences": contact}

    async def erase(self, person: UserId) -> None:
        async with self._uow() as uow:
            conn = uow.connection
            sealed = await conn.execute(
                sa.select(M.channel, M.address_sealed).where(M.recipient_id == person)
            )
            emails: set[str] = set()
            phones: set[str] = set()
            for row in sealed.all():
                opened = await self._personal.open(person, row.address_sealed, field=ADDRESS)
                if opened is not None:
                    (emails if row.channel == Channel.EMAIL.value else phones).add(opened)
            phone_row = (
                await conn.execute(sa.select(P.phone_sealed).where(P.user_id == person))
            ).first()
            if phone_row is not None and phone_row.phone_sealed is not None:
                phone = await self._personal.open(person, phone_row.phone_sealed, field=PHONE)
                if phone is not None:
                    phones.add(phone)
        # 1. the provider first, while the addresses still open; nothing deleted yet
        for address in sorted(emails):
            await self._email.forget(address)
        # 2. and 3. one transaction
        async with self._uow() as uow:
            conn = uow.connection
            booked = await conn.execute(
                sa.select(bookings.c.id).where(bookings.c.customer_id == person)
            )
            for (booking_id,) in booked.all():
                await uow.jobs.cancel_reminders(BookingId(booking_id))
            hashes = [await address_hash(self._personal, a) for a in sorted(emails)]
            windows = [await phone_hash(self._personal, p) for p in sorted(phones)]
            statements: list[Any] = [
                messages.delete().where(M.recipient_id == person),
                contact_preferences.delete().where(P.user_id == person),
            ]
            if hashes:
                statements.append(
                    undeliverable_addresses.delete().where(
                        undeliverable_addresses.c.address_hash.in_(hashes)
                    )
                )
            if windows:
                statements.append(
                    whatsapp_windows.delete().where(whatsapp_windows.c.phone_hash.in_(windows))
                )
            for statement in statements:
                await conn.execute(statement)
            await uow.commit()
