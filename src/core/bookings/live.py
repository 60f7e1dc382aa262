"""Live availability: who hears about which change of a booking (issue 12, docs/adr/0032).

The database records every change that frees or takes a slot (a hold, a confirmation, a
cancellation, an expiry, a reschedule) as a `LiveChange`; a relay publishes them in commit
order; each API process follows the published stream and hands every subscriber the changes
its `Topic` concerns, each under a stable `LiveEventId` a reconnecting client names in
`Last-Event-ID` to get what it missed from a short history.

Public topics (an offering, an area) see where and when a slot changed, never whose booking it
was; a customer's own topic sees their bookings' ids and statuses.
"""

from __future__ import annotations

import enum
import re
from collections.abc import AsyncGenerator, Callable, Sequence
from datetime import datetime
from typing import Protocol

import attrs
from returns.result import Failure, Result, Success

from core.bookings.catalog import GetOffering
from core.shared.errors import DomainError, InvalidInput
from core.shared.geo import GeoPoint
from core.shared.ids import BookingId, OfferingId, PlaceId, UserId
from core.shared.principal import Principal
from core.shared.time import TimeRange
from core.shared.use_case import UseCase

MAX_RADIUS_M = 200_000.0  # as the search: 1 m to 200 km
_EVENT_ID = re.compile(r"([0-9]{1,15})-([0-9]{1,15})")


class LiveKind(enum.StrEnum):
    HELD = "held"  # a new booking took the slot (held, or confirmed at once)
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # the hold lapsed and the sweep (or a newer hold) marked it
    RESCHEDULED = "rescheduled"  # the old side of a move; the new side comes as HELD


@attrs.frozen(kw_only=True)
class LiveChange:
    """One booking's change as the database recorded it, in the transaction that made it."""

    kind: LiveKind
    booking_id: BookingId
    offering_id: OfferingId
    place_id: PlaceId
    customer_id: UserId
    status: str
    during: TimeRange
    location: GeoPoint
    changed_at: datetime  # the database's clock when the row changed (lag is measured from it)


@attrs.frozen(order=True)
class LiveEventId:
    """A position in the published stream: (milliseconds, sequence), ordered."""

    ms: int
    seq: int

    @classmethod
    def parse(cls, text: str) -> Result[LiveEventId, InvalidInput]:
        matched = _EVENT_ID.fullmatch(text.strip())
        if matched is None:
            return Failure(
                InvalidInput(field="Last-Event-ID", reason="must be an event id like 1700000-0")
            )
        return Success(cls(int(matched[1]), int(matched[2])))

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


@attrs.frozen(kw_only=True)
class LiveEvent:
    id: LiveEventId
    change: LiveChange


@attrs.frozen(kw_only=True)
class Resync:
    """The history no longer reaches back to the client's Last-Event-ID (or never had it):
    changes may have been missed, so the client reads availability again."""

    id: LiveEventId | None  # the newest position known, to resume from after re-reading


@attrs.frozen
class Idle:
    """No change for a while: transports send a keep-alive, so proxies keep the stream open."""


IDLE = Idle()
LiveItem = LiveEvent | Resync | Idle


@attrs.frozen
class OfferingTopic:
    offering_id: OfferingId


@attrs.frozen
class AreaTopic:
    center: GeoPoint
    radius_m: float


@attrs.frozen
class CustomerTopic:
    customer_id: UserId


Topic = OfferingTopic | AreaTopic | CustomerTopic


def concerns(topic: Topic, change: LiveChange) -> bool:
    match topic:
        case OfferingTopic(offering_id):
            return change.offering_id == offering_id
        case AreaTopic(center, radius_m):
            return center.distance_m(change.location) <= radius_m
        case CustomerTopic(customer_id):
            return change.customer_id == customer_id


class Subscription:
    """One subscriber's changes. It is registered when made, so nothing published after
    `follow` returns is missed, and `aclose()` releases it (whether iterated or not)."""

    def __init__(self, events: AsyncGenerator[LiveItem, None], release: Callable[[], None]) -> None:
        self._events = events
        self._release = release

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> LiveItem:
        return await anext(self._events)

    async def aclose(self) -> None:
        self._release()
        await self._events.aclose()


class LiveFeed(Protocol):
    """The published changes, as one subscriber sees them."""

    async def follow(self, topic: Topic, after: LiveEventId | None) -> Subscription:
        """Changes of `topic` after `after` (from the history), then as they come, for ever.
        With `after` None, only changes published from now on. A `Resync` comes first when
        the history does not reach back to `after`; an `Idle` now and then when nothing
        happens."""
        ...


class LivePublisher(Protocol):
    """Where the relay puts the database's changes, in commit order."""

    async def publish(self, changes: Sequence[LiveChange]) -> None: ...


Stream = Subscription


def _after(last_event_id: str | None) -> Result[LiveEventId | None, InvalidInput]:
    if last_event_id is None or not last_event_id.strip():
        return Success(None)
    return LiveEventId.parse(last_event_id)


@attrs.frozen(kw_only=True)
class FollowOffering(UseCase):
    """An offering's changes; unknown offerings are refused before anything is followed."""

    feed: LiveFeed
    get_offering: GetOffering

    async def __call__(
        self, offering_id: OfferingId, last_event_id: str | None
    ) -> Result[Stream, DomainError]:
        after = _after(last_event_id)
        if isinstance(after, Failure):
            return after
        found = await self.get_offering(offering_id)
        if isinstance(found, Failure):
            return found
        return Success(await self.feed.follow(OfferingTopic(offering_id), after.unwrap()))


@attrs.frozen(kw_only=True)
class FollowArea(UseCase):
    """Changes at places within `radius_m` of a point (a search area)."""

    feed: LiveFeed

    async def __call__(
        self, lat: float, lng: float, radius_m: float, last_event_id: str | None
    ) -> Result[Stream, DomainError]:
        after = _after(last_event_id)
        if isinstance(after, Failure):
            return after
        center = GeoPoint.of(lat, lng)
        if isinstance(center, Failure):
            return center
        if not 1 <= radius_m <= MAX_RADIUS_M:
            return Failure(InvalidInput(field="radius_m", reason="must be 1 m to 200 km"))
        topic = AreaTopic(center.unwrap(), radius_m)
        return Success(await self.feed.follow(topic, after.unwrap()))


@attrs.frozen(kw_only=True)
class FollowMyBookings(UseCase):
    """The caller's own bookings as they change (needs a signed-in caller)."""

    feed: LiveFeed

    async def __call__(
        self, caller: Principal, last_event_id: str | None
    ) -> Result[Stream, DomainError]:
        after = _after(last_event_id)
        if isinstance(after, Failure):
            return after
        return Success(await self.feed.follow(CustomerTopic(caller.user_id), after.unwrap()))
