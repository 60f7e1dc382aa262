"""Helpers shared by the messaging store tests (fixtures live in conftest.py): the stores under
test, a stand-in for the job queue, builders of messages, and rows of other contexts written
by the schema owner (users, providers, places, offerings, bookings, staff roles, outbox)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.memory.messaging import MemoryMessagingStore
from adapters.postgis.messaging import MESSAGING_TABLES, PostgisMessagingUnitOfWork
from core.messaging.model import Channel, Message, MessageId, MessageKind, MessageStatus
from core.messaging.ports import MessagingUnitOfWork
from core.shared.ids import BookingId, ProviderId, UserId
from core.shared.personal import PersonalData
from core.shared.unit_of_work import Access
from personal_support import PERSONAL_TABLES, insert_user, postgis_personal

NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
TRUNCATED = (
    ", ".join(MESSAGING_TABLES)
    + ", provider_reminder_plans, outbox, bookings, occurrences, offering_resources, offerings,"
    " resources, places,"
    " providers, user_staff_roles, users, procrastinate_jobs, " + PERSONAL_TABLES
)
STORE_KINDS = ("memory", "postgis")


@attrs.frozen
class Store:
    """A messaging unit-of-work factory, per adapter."""

    name: str
    uow: Callable[[Access], MessagingUnitOfWork]


@attrs.frozen
class PostgisStore(Store):
    """The PostgreSQL store and the sealing it opens personal values with (seed users with it:
    `add_user`)."""

    personal: PersonalData


def postgis_store(engine: AsyncEngine, personal: PersonalData | None = None) -> PostgisStore:
    sealing = personal or postgis_personal(engine)

    def uow(access: Access) -> MessagingUnitOfWork:
        return PostgisMessagingUnitOfWork(engine, access, personal=sealing)

    return PostgisStore("postgis", uow, sealing)


def memory_store() -> Store:
    """The in-memory messaging store (adapters.memory.messaging): the fake the unit tests use."""
    return Store("memory", MemoryMessagingStore())


# ------------------------------------------------------------------ builders


def message(
    *,
    recipient: UserId | None = None,
    provider: ProviderId | None = None,
    created_at: datetime = NOW,
    **changes: Any,
) -> Message:
    id = MessageId(uuid.uuid4())
    values: dict[str, Any] = {
        "id": id,
        "dedupe_key": f"event:{uuid.uuid4()}:email:{recipient}",
        "kind": MessageKind.BOOKING_CONFIRMED,
        "channel": Channel.EMAIL,
        "recipient_id": recipient or UserId(uuid.uuid4()),
        "address": "ana@example.org",
        "locale": "en",
        "booking_id": BookingId(uuid.uuid4()),
        "provider_id": provider,
        "status": MessageStatus.QUEUED,
        "created_at": created_at,
        "updated_at": created_at,
    }
    values.update(changes)
    return Message(**values)


# ------------------------------------------------------------------ other contexts' rows


_SEED_PROVIDER = (
    "INSERT INTO providers VALUES (:provider, :name)",
    "INSERT INTO places VALUES (:place, :provider, :name || ' Court', '1 Rua Augusta', 'Lisbon',"
    " '1100-048', 'PT', 'POINT(-9.14 38.72)', 'Europe/Lisbon')",
    "INSERT INTO resources VALUES (:resource, :provider, :place, 'Court 1')",
    "INSERT INTO offerings VALUES (:offering, :provider, :place, 'appointment', 'Tennis hour',"
    " 'tennis', 3000, 'EUR', '1 hour', '1 hour', '0', '0', '0', '30 days', 1)",
)
_SEED_BOOKING = (
    "INSERT INTO bookings (id, offering_id, provider_id, customer_id, kind, during, blocked,"
    " resource_id, seats, price_minor, currency, status, created_at, rescheduled_from,"
    " hold_expires_at)"
    " VALUES (:booking, :offering, :provider, :user, 'appointment', CAST(:during AS tstzrange),"
    " CAST(:during AS tstzrange), :resource, 1, 3000, 'EUR', :status, :now, :rescheduled_from,"
    " :hold_expires_at)"
)


async def add_user(
    owner: AsyncConnection,
    personal: PersonalData,
    email: str,
    *,
    verified: bool = True,
    staff_of: Sequence[Any] = (),
) -> UserId:
    """A user whose address `personal` seals (the store's: `PostgisStore.personal`)."""
    user = uuid.uuid4()
    await insert_user(
        owner, personal, user, email, verified_at=NOW if verified else None, created_at=NOW
    )
    for provider in staff_of:
        await owner.execute(
            sa.text("INSERT INTO user_staff_roles VALUES (:user, :provider)"),
            {"user": user, "provider": provider},
        )
    return UserId(user)


@attrs.frozen(kw_only=True)
class Venue:
    provider_id: ProviderId
    place_id: uuid.UUID
    offering_id: uuid.UUID
    resource_id: uuid.UUID


async def add_venue(owner: AsyncConnection, name: str) -> Venue:
    venue = Venue(
        provider_id=ProviderId(uuid.uuid4()),
        place_id=uuid.uuid4(),
        offering_id=uuid.uuid4(),
        resource_id=uuid.uuid4(),
    )
    values = {
        "provider": venue.provider_id,
        "place": venue.place_id,
        "resource": venue.resource_id,
        "offering": venue.offering_id,
        "name": name,
    }
    for statement in _SEED_PROVIDER:
        await owner.execute(sa.text(statement), values)
    return venue


async def add_booking(
    owner: AsyncConnection,
    venue: Venue,
    customer: UserId,
    start: datetime,
    *,
    status: str = "confirmed",
    rescheduled_from: BookingId | None = None,
) -> BookingId:
    booking = BookingId(uuid.uuid4())
    during = f"[{start.isoformat()},{(start + HOUR).isoformat()})"
    await owner.execute(
        sa.text(_SEED_BOOKING),
        {
            "booking": booking,
            "offering": venue.offering_id,
            "provider": venue.provider_id,
            "user": customer,
            "resource": venue.resource_id,
            "during": during,
            "status": status,
            "now": NOW,
            "rescheduled_from": rescheduled_from,
            "hold_expires_at": NOW + 10 * MINUTE if status == "held" else None,
        },
    )
    return booking
