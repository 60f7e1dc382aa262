"""How to reach a person: their contact preferences, the addresses that hard-bounced and
WhatsApp's 24-hour service windows (the last inbound message per number). Writes are upserts:
a redelivered webhook changes nothing it should not.

No contact value is kept in clear (issue 10; migration 0016): a person's phone is sealed under
their key (field "messaging.phone") beside its lookup hash; bounced addresses and service
windows are keyed by lookup hashes only (the address trimmed and lower-cased, field
"messaging.address"; the E.164 number, field "messaging.phone"), so a bounce still stops later
mails to the address, and an inbound message still opens its number's window.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.messaging.personal import PHONE, address_hash, phone_hash, scrub
from adapters.postgis.messaging.reads import preferences_of
from adapters.postgis.messaging.tables import (
    contact_preferences,
    undeliverable_addresses,
    whatsapp_windows,
)
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork
from core.messaging.model import ContactPreferences
from core.messaging.ports import Preferences, ServiceWindows, Undeliverable
from core.shared.ids import UserId
from core.shared.personal import PersonalData
from core.shared.time import to_utc

P = contact_preferences.c
U = undeliverable_addresses.c
W = whatsapp_windows.c


class _Personal(PostgisPart):
    def __init__(self, uow: PostgisUnitOfWork, personal: PersonalData) -> None:
        super().__init__(uow)
        self._personal = personal


class PostgisPreferences(_Personal, Preferences):
    async def get(self, user_id: UserId) -> ContactPreferences | None:
        row = (await self._run(contact_preferences.select().where(P.user_id == user_id))).first()
        return await preferences_of(self._personal, user_id, row) if row is not None else None

    async def put(self, preferences: ContactPreferences) -> None:
        phone = preferences.phone
        values = {
            "locale": preferences.locale,
            "phone_sealed": None
            if phone is None
            else await self._personal.seal(preferences.user_id, phone, field=PHONE),
            "phone_hash": None if phone is None else await phone_hash(self._personal, phone),
            "whatsapp_opt_in_at": preferences.whatsapp_opt_in_at,
        }
        statement = insert(contact_preferences).values(user_id=preferences.user_id, **values)
        await self._run(statement.on_conflict_do_update(index_elements=[P.user_id], set_=values))


class PostgisUndeliverable(_Personal, Undeliverable):
    async def mark(self, address: str, reason: str, at: datetime) -> None:
        statement = insert(undeliverable_addresses).values(
            address_hash=await address_hash(self._personal, address),
            reason=scrub(reason, address) or "bounce",
            marked_at=at,
        )
        latest = statement.excluded
        await self._run(
            statement.on_conflict_do_update(
                index_elements=[U.address_hash],
                set_={"reason": latest.reason, "marked_at": latest.marked_at},
            )
        )

    async def contains(self, address: str) -> bool:
        hashed = await address_hash(self._personal, address)
        query = sa.select(sa.exists().where(U.address_hash == hashed))
        return bool((await self._run(query)).scalar_one())


class PostgisServiceWindows(_Personal, ServiceWindows):
    async def opened(self, phone: str, at: datetime) -> None:
        hashed = await phone_hash(self._personal, phone)
        statement = insert(whatsapp_windows).values(phone_hash=hashed, last_inbound_at=at)
        await self._run(
            statement.on_conflict_do_update(
                index_elements=[W.phone_hash],
                # Webhooks arrive out of order: the latest inbound message counts.
                set_={"last_inbound_at": sa.func.greatest(W.last_inbound_at, at)},
            )
        )

    async def last_inbound(self, phone: str) -> datetime | None:
        hashed = await phone_hash(self._personal, phone)
        query = sa.select(W.last_inbound_at).where(W.phone_hash == hashed)
        at = (await self._run(query)).scalar_one_or_none()
        return to_utc(at) if at is not None else None
