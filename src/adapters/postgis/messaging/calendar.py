"""Calendar UIDs per booking chain with their SEQUENCE, and the secret feeds' token digests.

A booking gets its chain's UID once: a rescheduled booking joins its predecessor's chain, any
other starts one named after itself (`{booking id}@reserva`); SEQUENCE starts at 0 (RFC 5545).
`next` is two upserts, each taking its row's lock: the booking's UID (ON CONFLICT DO UPDATE ...
RETURNING gives the UID already there, even to a concurrent caller, who waits for the first to
commit) and the chain's SEQUENCE (inserted at 0, else incremented in place), so concurrent
callers get distinct, increasing sequences.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.messaging.tables import calendar_chains, calendar_feeds, calendar_uids
from adapters.postgis.unit_of_work import PostgisPart
from core.messaging.ports import CalendarFeeds, CalendarSequences
from core.shared.ids import BookingId

C = calendar_chains.c
K = calendar_uids.c
F = calendar_feeds.c
UID_DOMAIN = "reserva"


def chain_uid(booking_id: BookingId) -> str:
    """The UID of a chain that starts with `booking_id` (RFC 5545: globally unique)."""
    return f"{booking_id}@{UID_DOMAIN}"


class PostgisCalendarSequences(PostgisPart, CalendarSequences):
    async def next(
        self, booking_id: BookingId, rescheduled_from: BookingId | None
    ) -> tuple[str, int]:
        # A predecessor never written to a calendar names the chain all the same: were it ever
        # given a UID later, it would be this one.
        fresh: sa.ColumnElement[str] = sa.literal(
            chain_uid(rescheduled_from or booking_id), sa.Text
        )
        if rescheduled_from is not None:
            predecessor = sa.select(K.uid).where(K.booking_id == rescheduled_from)
            fresh = sa.func.coalesce(predecessor.scalar_subquery(), fresh)
        joined = insert(calendar_uids).values(booking_id=booking_id, uid=fresh)
        uid: str = (
            await self._run(
                joined.on_conflict_do_update(
                    index_elements=[K.booking_id],
                    set_={"booking_id": joined.excluded.booking_id},  # a no-op that locks the row
                ).returning(K.uid)
            )
        ).scalar_one()
        counted = insert(calendar_chains).values(uid=uid, sequence=0)
        sequence: int = (
            await self._run(
                counted.on_conflict_do_update(
                    index_elements=[C.uid], set_={"sequence": C.sequence + 1}
                ).returning(C.sequence)
            )
        ).scalar_one()
        return uid, sequence

    async def current(self, booking_id: BookingId) -> tuple[str, int] | None:
        query = (
            sa.select(K.uid, C.sequence)
            .select_from(calendar_uids.join(calendar_chains, C.uid == K.uid))
            .where(K.booking_id == booking_id)
        )
        row = (await self._run(query)).first()
        return (row.uid, row.sequence) if row is not None else None


class PostgisCalendarFeeds(PostgisPart, CalendarFeeds):
    async def issue(self, owner: str, token_digest: str, at: datetime) -> None:
        statement = insert(calendar_feeds).values(
            owner=owner, token_digest=token_digest, issued_at=at
        )
        await self._run(
            statement.on_conflict_do_update(
                index_elements=[F.owner],
                set_={
                    "token_digest": statement.excluded.token_digest,
                    "issued_at": statement.excluded.issued_at,
                },
            )
        )

    async def owner_of(self, token_digest: str) -> str | None:
        query = sa.select(F.owner).where(F.token_digest == token_digest)
        owner: str | None = (await self._run(query)).scalar_one_or_none()
        return owner
