"""Live availability in the core (issue 12): who hears which change, event ids, refusals, and
replay after an id, on the in-memory feed (the Redis one is exercised by the integration
tests with real servers)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from bookings_support import customer, open_shop
from returns.result import Failure, Success

from adapters.memory.live import MemoryLiveFeed
from core.bookings import GetOffering
from core.bookings.live import (
    AreaTopic,
    CustomerTopic,
    FollowArea,
    FollowMyBookings,
    FollowOffering,
    LiveChange,
    LiveEvent,
    LiveEventId,
    LiveKind,
    OfferingTopic,
    Resync,
    concerns,
)
from core.shared.errors import InvalidInput, NotFound
from core.shared.geo import GeoPoint
from core.shared.ids import BookingId, OfferingId, PlaceId, UserId
from core.shared.time import TimeRange

NOW = datetime(2030, 5, 6, 9, 0, tzinfo=UTC)
BERLIN = GeoPoint(52.52, 13.405)


def change(
    offering: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    at: GeoPoint = BERLIN,
    kind: LiveKind = LiveKind.HELD,
) -> LiveChange:
    return LiveChange(
        kind=kind,
        booking_id=BookingId(uuid.uuid4()),
        offering_id=OfferingId(offering or uuid.uuid4()),
        place_id=PlaceId(uuid.uuid4()),
        customer_id=UserId(customer_id or uuid.uuid4()),
        status=kind.value,
        during=TimeRange(NOW, NOW + timedelta(hours=1)),
        location=at,
        changed_at=NOW,
    )


def test_event_ids_parse_and_order_as_the_stream_does() -> None:
    assert LiveEventId.parse("1700000000000-2") == Success(LiveEventId(1700000000000, 2))
    assert LiveEventId(9, 0) < LiveEventId(10, 0) < LiveEventId(10, 1)  # not as text
    assert str(LiveEventId(10, 1)) == "10-1"
    for bad in ("", "yesterday", "1-", "-1", "1-2-3", "1.5-0", "9" * 16 + "-0"):
        parsed = LiveEventId.parse(bad)
        assert isinstance(parsed, Failure), bad
        assert parsed.failure().field == "Last-Event-ID"


def test_a_topic_concerns_its_offering_its_area_or_its_customer_only() -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    assert concerns(OfferingTopic(OfferingId(mine)), change(offering=mine))
    assert not concerns(OfferingTopic(OfferingId(mine)), change(offering=theirs))
    potsdam = GeoPoint(52.39, 13.06)  # ~27 km from Berlin's centre
    assert concerns(AreaTopic(BERLIN, 30_000), change(at=potsdam))
    assert not concerns(AreaTopic(BERLIN, 20_000), change(at=potsdam))
    assert concerns(CustomerTopic(UserId(mine)), change(customer_id=mine))
    assert not concerns(CustomerTopic(UserId(mine)), change(customer_id=theirs))


async def _next(stream: object) -> LiveEvent | Resync:
    return await asyncio.wait_for(anext(stream), 1)  # type: ignore[call-overload, no-any-return]


async def test_an_offering_is_followed_live_and_replayed_after_an_id() -> None:
    shop = await open_shop(NOW)
    feed = MemoryLiveFeed()
    follow = FollowOffering(feed=feed, get_offering=GetOffering(uow=shop.store, clock=shop.clock))
    offering = shop.appointment.id

    stream = (await follow(offering, None)).unwrap()
    pending = asyncio.ensure_future(_next(stream))
    await asyncio.sleep(0)
    await feed.publish([change(), change(offering=offering), change(offering=offering)])
    first = await pending
    assert isinstance(first, LiveEvent)
    assert first.change.offering_id == offering  # the other offering's change is not heard
    second = await _next(stream)

    replay = (await follow(offering, str(first.id))).unwrap()
    again = await _next(replay)
    assert again == second  # after `first`: only what came later
    await feed.publish([change(offering=offering)])
    assert isinstance(await _next(replay), LiveEvent)  # then live


async def test_an_id_past_the_history_gets_a_resync() -> None:
    feed = MemoryLiveFeed(history=2)
    offering = uuid.uuid4()
    await feed.publish([change(offering=offering) for _ in range(4)])
    follow = FollowArea(feed=feed)

    stream = (await follow(BERLIN.lat, BERLIN.lng, 1_000, "1-0")).unwrap()  # trimmed long ago
    assert await _next(stream) == Resync(id=LiveEventId(4, 0))
    future = (await follow(BERLIN.lat, BERLIN.lng, 1_000, "99-0")).unwrap()  # never reached
    assert isinstance(await _next(future), Resync)


async def test_bad_input_is_refused_before_anything_is_followed() -> None:
    shop = await open_shop(NOW)
    feed = MemoryLiveFeed()
    follow = FollowOffering(feed=feed, get_offering=GetOffering(uow=shop.store, clock=shop.clock))

    unknown = await follow(OfferingId(uuid.uuid4()), None)
    assert isinstance(unknown, Failure)
    assert isinstance(unknown.failure(), NotFound)
    bad_id = await follow(shop.appointment.id, "yesterday")
    assert isinstance(bad_id.failure(), InvalidInput)

    area = FollowArea(feed=feed)
    for lat, lng, radius in ((91.0, 0.0, 10.0), (0.0, 0.0, 0.5), (0.0, 0.0, 300_000.0)):
        assert isinstance((await area(lat, lng, radius, None)).failure(), InvalidInput)


@pytest.mark.parametrize("kind", list(LiveKind))
async def test_my_bookings_are_mine_only(kind: LiveKind) -> None:
    feed = MemoryLiveFeed()
    me = customer()
    stream = (await FollowMyBookings(feed=feed)(me, None)).unwrap()
    pending = asyncio.ensure_future(_next(stream))
    await asyncio.sleep(0)
    await feed.publish([change(kind=kind), change(customer_id=me.user_id, kind=kind)])
    heard = await pending
    assert isinstance(heard, LiveEvent)
    assert heard.change.customer_id == me.user_id
    assert heard.change.kind is kind
