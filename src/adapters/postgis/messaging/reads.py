"""Messaging's narrow reads of other contexts' rows: the outbox event, the person (identity's
user with messaging's contact preferences), the booking's facts (bookings, offerings, places,
providers and the provider's staff). Read fresh at send time; never copied into a message.

Row-level security applies: the worker runs as maintenance and sees everything; a customer
reading their own feed sees their bookings, but not the provider's staff list (`staff_ids`
is then empty: user_staff_roles shows a person only their own roles).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.bookings.tables import bookings, offerings, places, providers
from adapters.postgis.identity.personal import EMAIL as IDENTITY_EMAIL
from adapters.postgis.identity.tables import user_staff_roles, users
from adapters.postgis.messaging.personal import PHONE
from adapters.postgis.messaging.tables import (
    contact_preferences,
    provider_reminder_offsets,
    provider_reminder_plans,
)
from adapters.postgis.metadata import outbox
from adapters.postgis.sql import Row, utc_or_none
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork, outbox_event
from core.messaging.model import ContactPreferences, ReminderPlan
from core.messaging.ports import BookingFacts, Bookings, EventLog, People, Person, ReminderPlans
from core.shared.events import Event
from core.shared.ids import BookingId, EventId, ProviderId, UserId
from core.shared.personal import PersonalData
from core.shared.time import to_utc

B = bookings.c
O = outbox.c  # noqa: E741
R = provider_reminder_offsets.c
PLANS = provider_reminder_plans.c
P = contact_preferences.c
DEFAULT_LOCALE = "en"


class PostgisEventLog(PostgisPart, EventLog):
    async def get(self, event_id: EventId) -> Event | None:
        return await outbox_event(self._conn, event_id)

    async def mark_dispatched(self, event_id: EventId, at: datetime) -> None:
        # The first dispatch's instant stays: a redelivery changes nothing.
        await self._run(
            outbox.update()
            .where(O.id == event_id)
            .values(delivered_at=sa.func.coalesce(O.delivered_at, at))
        )


async def preferences_of(personal: PersonalData, user_id: UserId, row: Any) -> ContactPreferences:
    """A person's preferences from a row of contact_preferences' columns (NULLs: none kept);
    the phone opened (None once the person was erased)."""
    if row.locale is None:
        return ContactPreferences(user_id=user_id)
    phone = None
    if row.phone_sealed is not None:
        phone = await personal.open(user_id, row.phone_sealed, field=PHONE)
    return ContactPreferences(
        user_id=user_id,
        locale=row.locale,
        phone=phone,
        whatsapp_opt_in_at=utc_or_none(row.whatsapp_opt_in_at),
    )


class PostgisPeople(PostgisPart, People):
    def __init__(self, uow: PostgisUnitOfWork, personal: PersonalData) -> None:
        super().__init__(uow)
        self._personal = personal

    async def get(self, user_id: UserId) -> Person | None:
        query = (
            sa.select(
                users.c.id,
                users.c.email_sealed,
                users.c.email_verified_at,
                P.locale,
                P.phone_sealed,
                P.whatsapp_opt_in_at,
            )
            .select_from(users.outerjoin(contact_preferences, P.user_id == users.c.id))
            .where(users.c.id == user_id)
        )
        row = (await self._run(query)).first()
        if row is None:
            return None
        email = await self._personal.open(user_id, row.email_sealed, field=IDENTITY_EMAIL)
        if email is None:  # erased: nobody to write to
            return None
        return Person(
            user_id=UserId(row.id),
            email=email,
            email_verified=row.email_verified_at is not None,
            display_name=None,  # identity keeps no name today
            preferences=await preferences_of(self._personal, UserId(row.id), row),
        )


def _staff() -> sa.ColumnElement[Any]:
    staff = (
        sa.select(user_staff_roles.c.user_id)
        .where(user_staff_roles.c.provider_id == B.provider_id)
        .order_by(user_staff_roles.c.user_id)
    )
    return sa.func.array(staff.scalar_subquery()).label("staff_ids")


_FACTS = sa.select(
    B.id,
    B.provider_id,
    B.customer_id,
    B.status,
    B.during,
    B.seats,
    B.price_minor,
    B.currency,
    B.rescheduled_from,
    offerings.c.name.label("offering_name"),
    providers.c.name.label("provider_name"),
    places.c.name.label("place_name"),
    places.c.line1,
    places.c.postal_code,
    places.c.city,
    places.c.country,
    places.c.timezone,
    _staff(),
).select_from(
    bookings.join(offerings, offerings.c.id == B.offering_id)
    .join(places, places.c.id == offerings.c.place_id)
    .join(providers, providers.c.id == B.provider_id)
)


def _address(row: Row) -> str:
    town = f"{row.postal_code} {row.city}".strip()
    return ", ".join(part for part in (row.line1, town, row.country) if part)


def _facts(row: Row) -> BookingFacts:
    return BookingFacts(
        booking_id=BookingId(row.id),
        provider_id=ProviderId(row.provider_id),
        customer_id=UserId(row.customer_id),
        status=row.status,
        starts=to_utc(row.during.lower),
        ends=to_utc(row.during.upper),
        time_zone=row.timezone,
        offering_name=row.offering_name,
        provider_name=row.provider_name,
        place_name=row.place_name,
        place_address=_address(row),
        seats=row.seats,
        price_minor=row.price_minor,
        currency=row.currency,
        rescheduled_from=(
            BookingId(row.rescheduled_from) if row.rescheduled_from is not None else None
        ),
        staff_ids=tuple(UserId(staff) for staff in row.staff_ids or ()),
    )


class PostgisBookingFacts(PostgisPart, Bookings):
    async def facts(self, booking_id: BookingId) -> BookingFacts | None:
        row = (await self._run(_FACTS.where(B.id == booking_id))).first()
        return _facts(row) if row is not None else None

    async def of_customer(self, user_id: UserId) -> Sequence[BookingFacts]:
        return await self._all(_FACTS.where(B.customer_id == user_id))

    async def of_provider(self, provider_id: ProviderId) -> Sequence[BookingFacts]:
        return await self._all(_FACTS.where(B.provider_id == provider_id))

    async def _all(self, query: sa.Select[Any]) -> list[BookingFacts]:
        ordered = query.order_by(sa.func.lower(B.during), B.id)  # newest start last
        return [_facts(row) for row in await self._run(ordered)]

    async def reminder_plan(self, provider_id: ProviderId) -> ReminderPlan:
        chosen = await PostgisReminderPlans(self._uow).get(provider_id)
        return chosen if chosen is not None else ReminderPlan()


class PostgisReminderPlans(PostgisPart, ReminderPlans):
    """A provider chose a plan when it has a row in provider_reminder_plans (or, written
    before migration 0013 marked them, offsets); its offsets are its rows, none: no
    reminders."""

    async def get(self, provider_id: ProviderId) -> ReminderPlan | None:
        """Longest offset first. One round trip: whether it chose, and its offsets."""
        offsets = (
            sa.select(R.offset_minutes)
            .where(R.provider_id == provider_id)
            .order_by(R.offset_minutes.desc())
            .scalar_subquery()
        )
        chosen = sa.select(PLANS.provider_id).where(PLANS.provider_id == provider_id)
        query = sa.select(
            sa.exists(chosen).label("chosen"), sa.func.array(offsets).label("minutes")
        )
        row = (await self._run(query)).one()
        if not row.chosen and not row.minutes:
            return None
        return ReminderPlan(offsets=tuple(timedelta(minutes=m) for m in row.minutes))

    async def put(self, provider_id: ProviderId, plan: ReminderPlan) -> None:
        # The mark first: its row lock orders concurrent changes of one provider's plan.
        mark = insert(provider_reminder_plans).values(
            provider_id=provider_id, chosen_at=sa.func.now()
        )
        await self._run(
            mark.on_conflict_do_update(
                index_elements=[PLANS.provider_id], set_={"chosen_at": mark.excluded.chosen_at}
            )
        )
        await self._run(provider_reminder_offsets.delete().where(R.provider_id == provider_id))
        minutes = sorted({int(offset.total_seconds() // 60) for offset in plan.offsets})
        if minutes:
            await self._conn.execute(
                provider_reminder_offsets.insert(),
                [{"provider_id": provider_id, "offset_minutes": m} for m in minutes],
            )
