"""How to reach a person: their contact preferences, the addresses that hard-bounced (keyed by
the normalised address) and WhatsApp's 24-hour service windows (the last inbound message per
number). Writes are upserts: a redelivered webhook changes nothing it should not."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.messaging.reads import preferences_of
from adapters.postgis.messaging.tables import (
    contact_preferences,
    undeliverable_addresses,
    whatsapp_windows,
)
from adapters.postgis.unit_of_work import PostgisPart
from core.messaging.model import ContactPreferences
from core.messaging.ports import Preferences, ServiceWindows, Undeliverable
from core.shared.ids import UserId
from core.shared.time import to_utc

P = contact_preferences.c
U = undeliverable_addresses.c
W = whatsapp_windows.c


def address_key(address: str) -> sa.ColumnElement[str]:
    """The address as the table keys it, computed by the database (its CHECK says the same):
    PostgreSQL's lower() and Python's need not agree beyond ASCII."""
    return sa.func.lower(sa.func.btrim(sa.literal(address, sa.Text)))


class PostgisPreferences(PostgisPart, Preferences):
    async def get(self, user_id: UserId) -> ContactPreferences | None:
        row = (await self._run(contact_preferences.select().where(P.user_id == user_id))).first()
        return preferences_of(user_id, row) if row is not None else None

    async def put(self, preferences: ContactPreferences) -> None:
        values = {
            "locale": preferences.locale,
            "phone": preferences.phone,
            "whatsapp_opt_in_at": preferences.whatsapp_opt_in_at,
        }
        statement = insert(contact_preferences).values(user_id=preferences.user_id, **values)
        await self._run(statement.on_conflict_do_update(index_elements=[P.user_id], set_=values))


class PostgisUndeliverable(PostgisPart, Undeliverable):
    async def mark(self, address: str, reason: str, at: datetime) -> None:
        statement = insert(undeliverable_addresses).values(
            address_key=address_key(address), address=address, reason=reason, marked_at=at
        )
        latest = statement.excluded
        await self._run(
            statement.on_conflict_do_update(
                index_elements=[U.address_key],
                set_={"reason": latest.reason, "marked_at": latest.marked_at},
            )
        )

    async def contains(self, address: str) -> bool:
        query = sa.select(sa.exists().where(U.address_key == address_key(address)))
        return bool((await self._run(query)).scalar_one())


class PostgisServiceWindows(PostgisPart, ServiceWindows):
    async def opened(self, phone: str, at: datetime) -> None:
        statement = insert(whatsapp_windows).values(phone=phone, last_inbound_at=at)
        await self._run(
            statement.on_conflict_do_update(
                index_elements=[W.phone],
                # Webhooks arrive out of order: the latest inbound message counts.
                set_={"last_inbound_at": sa.func.greatest(W.last_inbound_at, at)},
            )
        )

    async def last_inbound(self, phone: str) -> datetime | None:
        query = sa.select(W.last_inbound_at).where(W.phone == phone)
        at = (await self._run(query)).scalar_one_or_none()
        return to_utc(at) if at is not None else None
