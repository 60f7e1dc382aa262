"""Secret calendar feeds: issued once, stored as a digest, read with the token alone."""

from __future__ import annotations

import hashlib
import uuid

from messaging_support import DAY, NOW, booking_event, dispatch, failure, ics_fields, ok, world

from core.messaging import (
    IssueCalendarFeed,
    IssueProviderCalendarFeed,
    ReadCalendarFeed,
)
from core.shared.errors import Forbidden, NotFound
from core.shared.ids import ProviderId


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1].removesuffix(".ics")


async def test_a_customer_feed_lists_their_live_bookings_with_their_mail_uids() -> None:
    app = world()
    ada = app.person()
    confirmed = app.booking(ada.user_id, starts=NOW + 2 * DAY)
    await dispatch(app, booking_event("booking_confirmed", confirmed))
    await app.run_jobs()  # the confirmation gave the booking its UID
    later = app.booking(ada.user_id, starts=NOW + 5 * DAY)
    app.booking(ada.user_id, starts=NOW + 3 * DAY, status="cancelled")
    app.booking(ada.user_id, starts=NOW + 4 * DAY, status="held")
    app.booking(app.person().user_id, starts=NOW + DAY)  # someone else's
    feed = ok(await app(IssueCalendarFeed)(ada))
    token = _token(feed.url)
    assert len(token) >= 43  # 32 random bytes
    assert app.store.tables["feeds"] == {
        f"customer:{ada.user_id}": hashlib.sha256(token.encode()).hexdigest()
    }
    fields = ics_fields(ok(await app(ReadCalendarFeed)(token)))
    assert fields["METHOD"] == ["PUBLISH"]
    mailed = ics_fields(app.email.sent[0][1].attachments[0].data)
    assert fields["UID"] == [mailed["UID"][0], f"{later.booking_id}@reserva"]
    assert fields["DTSTART"] == [b.starts.strftime("%Y%m%dT%H%M%SZ") for b in (confirmed, later)]


async def test_issuing_again_revokes_the_old_url() -> None:
    app = world()
    ada = app.person()
    old = _token(ok(await app(IssueCalendarFeed)(ada)).url)
    new = _token(ok(await app(IssueCalendarFeed)(ada)).url)
    assert old != new
    assert isinstance(failure(await app(ReadCalendarFeed)(old)), NotFound)
    assert ok(await app(ReadCalendarFeed)(new)).startswith(b"BEGIN:VCALENDAR")
    assert isinstance(failure(await app(ReadCalendarFeed)("made-up")), NotFound)


async def test_a_provider_feed_is_for_its_staff_and_lists_its_bookings() -> None:
    app = world()
    provider = ProviderId(uuid.uuid4())
    staff = app.staff(provider)
    app.booking(app.person().user_id, starts=NOW + DAY, provider_id=provider)
    app.booking(app.person().user_id, starts=NOW + 2 * DAY, provider_id=provider)
    app.booking(app.person().user_id, starts=NOW + DAY)  # another provider's
    assert isinstance(
        failure(await app(IssueProviderCalendarFeed)(app.person(), provider)), Forbidden
    )
    feed = ok(await app(IssueProviderCalendarFeed)(staff, provider))
    fields = ics_fields(ok(await app(ReadCalendarFeed)(_token(feed.url))))
    assert len(fields["UID"]) == 2
    assert f"provider:{provider}" in app.store.tables["feeds"]
