"""A court to book, for the live availability tests (imported by bare name)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from returns.result import Success

from core.bookings import NewOffering, NewPlace
from core.bookings.model import Address, BookingRules, LocalInterval, OfferingKind, WeeklyRule
from core.shared.ids import OfferingId, UserId
from core.shared.money import Money
from core.shared.principal import Principal, Role
from entrypoints.container import Container

ADMIN = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)


def ok(result: Any) -> Any:
    assert isinstance(result, Success), result
    return result.unwrap()


async def court(c: Container, lat: float = 51.5, lng: float = -0.1) -> OfferingId:
    """A place in UTC open all day with one court bookable by the hour: its offering."""
    provider = ok(await c.create_provider()(ADMIN, "Live"))
    address = Address(line1="1 Main St", city="London", postal_code="N1", country="GB")
    new_place = NewPlace(
        provider_id=provider.id, name="Court", address=address, lat=lat, lng=lng, timezone="UTC"
    )
    place = ok(await c.add_place()(ADMIN, new_place))
    hours = [WeeklyRule(weekday=d, interval=LocalInterval(0, 24 * 60)) for d in range(7)]
    ok(await c.set_opening_hours()(ADMIN, place.id, hours, []))
    resource = ok(await c.add_resource()(ADMIN, place.id, "Court 1"))
    rules = BookingRules(duration=timedelta(hours=1), slot_step=timedelta(hours=1))
    offering = NewOffering(
        place_id=place.id,
        kind=OfferingKind.APPOINTMENT,
        name="Court hour",
        category="tennis",
        price=Money.of(0, "EUR").unwrap(),
        rules=rules,
        resource_ids=(resource.id,),
    )
    created = ok(await c.create_offering()(ADMIN, offering))
    return OfferingId(created.id)
