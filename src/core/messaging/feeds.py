"""Secret calendar feed URLs: a customer's bookings, or a provider's.

Issuing a feed makes a random token (256 bits), stores only its SHA-256 and answers the URL
once; issuing again replaces the feed, so a leaked URL is revoked by asking for a new one.
Reading a feed needs nothing but the token.
"""

from __future__ import annotations

import secrets
import uuid

import attrs
from returns.result import Failure, Result, Success

from core.messaging.calendar import entry_of, feed_bookings, token_digest
from core.messaging.model import CalendarEntry, CalendarMethod
from core.messaging.ports import BookingFacts, CalendarWriter, Links, MessagingUnitOfWork
from core.shared.errors import Forbidden, NotFound
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal, may_manage
from core.shared.time import Clock
from core.shared.unit_of_work import MAINTENANCE, Access, UnitOfWorkFactory
from core.shared.use_case import UseCase


def customer_owner(user_id: UserId) -> str:
    return f"customer:{user_id}"


def provider_owner(provider_id: ProviderId) -> str:
    return f"provider:{provider_id}"


@attrs.frozen(kw_only=True)
class CalendarFeed:
    """The feed's URL: shown once, never stored (it holds the token)."""

    url: str = attrs.field(repr=False)


async def _issue(
    uow_factory: UnitOfWorkFactory[MessagingUnitOfWork],
    access: Access,
    owner: str,
    links: Links,
    clock: Clock,
) -> CalendarFeed:
    token = secrets.token_urlsafe(32)
    async with uow_factory(access) as uow:
        await uow.feeds.issue(owner, token_digest(token), clock.now())
        await uow.commit()
    return CalendarFeed(url=links.calendar_feed(token))


@attrs.frozen(kw_only=True)
class IssueCalendarFeed(UseCase):
    """A new secret feed of the caller's bookings (replacing any earlier one)."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]
    clock: Clock
    links: Links

    async def __call__(self, caller: Principal) -> Result[CalendarFeed, Forbidden]:
        owner = customer_owner(caller.user_id)
        return Success(await _issue(self.uow, Access.of(caller), owner, self.links, self.clock))


@attrs.frozen(kw_only=True)
class IssueProviderCalendarFeed(UseCase):
    """A new secret feed of a provider's bookings, for its staff (second factor required)."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]
    clock: Clock
    links: Links

    async def __call__(
        self, caller: Principal, provider_id: ProviderId
    ) -> Result[CalendarFeed, Forbidden]:
        allowed = may_manage(caller, provider_id)
        if isinstance(allowed, Failure):
            return allowed
        owner = provider_owner(provider_id)
        return Success(await _issue(self.uow, Access.of(caller), owner, self.links, self.clock))


@attrs.frozen(kw_only=True)
class ReadCalendarFeed(UseCase):
    """GET /calendar/{token}.ics: the owner's bookings as a VCALENDAR (METHOD:PUBLISH), each
    with its chain's UID and current SEQUENCE. NotFound for a token that is not (or no
    longer) a feed's. The token is the credential: it is looked up with the access it grants
    (`Access.holding` its digest); the bookings are then read for that owner."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]
    clock: Clock
    calendar_writer: CalendarWriter
    links: Links

    async def __call__(self, token: str) -> Result[bytes, NotFound]:
        digest = token_digest(token)
        async with self.uow(Access.holding(digest)) as uow:
            owner = await uow.feeds.owner_of(digest)
        parsed = _parse_owner(owner) if owner else None
        if parsed is None:
            return Failure(NotFound(kind="calendar feed", id="(token)"))
        kind, owner_id = parsed
        now = self.clock.now()
        entries: list[CalendarEntry] = []
        async with self.uow(MAINTENANCE) as uow:
            bookings: list[BookingFacts]
            if kind == "customer":
                bookings = list(await uow.bookings.of_customer(UserId(owner_id)))
            else:
                bookings = list(await uow.bookings.of_provider(ProviderId(owner_id)))
            for facts in feed_bookings(bookings):
                known = await uow.calendar.current(facts.booking_id)
                if known is None:
                    known = await uow.calendar.next(facts.booking_id, facts.rescheduled_from)
                uid, sequence = known
                link = self.links.booking(facts.booking_id)
                entries.append(entry_of(facts, uid, sequence, now, link=link))
            await uow.commit()  # UIDs given to bookings never mailed before
        return Success(self.calendar_writer.write(entries, CalendarMethod.PUBLISH))


def _parse_owner(owner: str) -> tuple[str, uuid.UUID] | None:
    kind, _, raw = owner.partition(":")
    if kind not in ("customer", "provider"):
        return None
    try:
        return kind, uuid.UUID(raw)
    except ValueError:
        return None
