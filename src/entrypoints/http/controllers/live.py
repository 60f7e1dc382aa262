"""Live availability over Server-Sent Events and WebSocket (issue 12, docs/adr/0032).

Three topics, each on both transports: an offering's changes and an area's (public), and the
caller's own bookings (bearer token). Every change carries the stream's id: SSE sends it as
`id:`, so a reconnecting EventSource names it in `Last-Event-ID` and gets what it missed;
WebSocket clients send the header or `?last_event_id=`. A `resync` event says the history no
longer reaches back that far: read availability again. Bad input is refused before streaming:
problem+json over SSE, a close code of 4000 + the HTTP status with the detail as reason over
WebSocket (4404 unknown offering, 4422 bad Last-Event-ID); a personal socket without a valid
token is refused at the handshake (HTTP 403), as the authentication middleware does.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Litestar, WebSocket, get, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath, FromQuery, HeaderParameter, QueryParameter
from litestar.response import Stream as Stream_
from returns.result import Failure, Result

from core.bookings import (
    FollowArea,
    FollowMyBookings,
    FollowOffering,
    LiveEvent,
    LiveEventId,
    Resync,
    Subscription,
)
from core.shared.errors import DomainError
from core.shared.ids import OfferingId
from core.shared.principal import Principal
from core.shared.problems import kind_of
from entrypoints.http.auth import PUBLIC, SECURITY, principal_of
from entrypoints.http.problems import PROBLEMS, PUBLIC_PROBLEMS, SIGNED_IN_PROBLEMS, ok

Stream = Subscription
_log = structlog.get_logger(__name__)
RETRY_MS = 1_000
_RELAY_STOP_SECONDS = 5.0
_ENCODED_KEPT = 4_096  # events whose encoding is kept for the next subscriber
_REASON_BYTES = 123  # the most a WebSocket close frame's reason may hold
LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name="Last-Event-ID", description="The last event's id seen: replay what came after."
    ),
]
LastEventIdQuery = Annotated[str | None, QueryParameter(name="last_event_id", required=False)]


class SlotChangeOut(msgspec.Struct, frozen=True):
    """A public change: where and when a slot was taken or freed, never whose booking."""

    id: str
    kind: str  # held | confirmed | cancelled | expired | rescheduled
    offering_id: uuid.UUID
    place_id: uuid.UUID
    start: datetime
    end: datetime
    changed_at: datetime


class BookingChangeOut(msgspec.Struct, frozen=True):
    """A change of one of the caller's own bookings."""

    id: str
    kind: str
    booking_id: uuid.UUID
    status: str
    offering_id: uuid.UUID
    start: datetime
    end: datetime
    changed_at: datetime


def _public(event: LiveEvent) -> SlotChangeOut:
    change = event.change
    return SlotChangeOut(
        id=str(event.id),
        kind=change.kind.value,
        offering_id=change.offering_id,
        place_id=change.place_id,
        start=change.during.start,
        end=change.during.end,
        changed_at=change.changed_at,
    )


def _personal(event: LiveEvent) -> BookingChangeOut:
    change = event.change
    return BookingChangeOut(
        id=str(event.id),
        kind=change.kind.value,
        booking_id=change.booking_id,
        status=change.status,
        offering_id=change.offering_id,
        start=change.during.start,
        end=change.during.end,
        changed_at=change.changed_at,
    )


class Shape:
    """How one kind of subscriber sees an event, encoded once per event and shared by every
    subscriber it reaches (a change of a popular offering goes out hundreds of times)."""

    def __init__(self, to_struct: Callable[[LiveEvent], msgspec.Struct]) -> None:
        self._to_struct = to_struct
        self._encoded: dict[LiveEventId, bytes] = {}

    def json(self, event: LiveEvent) -> bytes:
        encoded = self._encoded.get(event.id)
        if encoded is None:
            if len(self._encoded) >= _ENCODED_KEPT:
                self._encoded.clear()
            encoded = self._encoded[event.id] = msgspec.json.encode(self._to_struct(event))
        return encoded

    def sse(self, event: LiveEvent) -> bytes:
        return b"id: %s\r\ndata: %s\r\n\r\n" % (str(event.id).encode(), self.json(event))

    def ws(self, event: LiveEvent) -> str:
        return '{"type":"change",' + self.json(event)[1:].decode()


PUBLIC_SHAPE = Shape(_public)
PERSONAL_SHAPE = Shape(_personal)
_SUBSCRIBED = b": subscribed\r\nretry: %d\r\n\r\n" % RETRY_MS
_KEEPALIVE = b": keepalive\r\n\r\n"


def _resync_sse(item: Resync) -> bytes:
    data = msgspec.json.encode({"id": None if item.id is None else str(item.id)})
    line = b"id: %s\r\n" % str(item.id).encode() if item.id is not None else b""
    return line + b"event: resync\r\ndata: " + data + b"\r\n\r\n"


async def _sse(stream: Stream, shape: Shape) -> AsyncIterator[bytes]:
    # At once: the headers leave with the first bytes, and a client must not wait for a change
    # to learn it is subscribed. `retry` is how soon an EventSource reconnects.
    yield _SUBSCRIBED
    try:
        async for item in stream:
            if isinstance(item, LiveEvent):
                yield shape.sse(item)
            elif isinstance(item, Resync):
                yield _resync_sse(item)
            else:
                yield _KEEPALIVE
    finally:
        await stream.aclose()


def _event_stream(stream: Stream, shape: Shape) -> Stream_:
    # No buffering by proxies (nginx honours X-Accel-Buffering), no caching anywhere.
    return Stream_(
        _sse(stream, shape),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


_SSE = "Server-Sent Events (text/event-stream): one `data:` JSON object per change, with `id:`; "
_RECONNECT = "reconnect with `Last-Event-ID` to get missed changes from a short history."


@get(
    "/live/offerings/{offering_id:str}",
    summary="Follow an offering's availability (SSE)",
    description="Who may call: anyone (no token). "
    + _SSE
    + "a hold, confirmation, cancellation, expiry or reschedule of any of its bookings; "
    + _RECONNECT,
    tags=["live"],
    opt={PUBLIC: True},
    responses=PUBLIC_PROBLEMS,
)
async def offering_events(
    offering_id: FromPath[uuid.UUID],
    follow_offering: NamedDependency[FollowOffering],
    last_event_id: LastEventId = None,
) -> Stream_:
    stream = ok(await follow_offering(OfferingId(offering_id), last_event_id))
    return _event_stream(stream, PUBLIC_SHAPE)


@get(
    "/live/area",
    summary="Follow availability in an area (SSE)",
    description="Who may call: anyone (no token). "
    + _SSE
    + "changes at places within radius_m (1 m to 200 km) of (lat, lng); "
    + _RECONNECT,
    tags=["live"],
    opt={PUBLIC: True},
    responses=PUBLIC_PROBLEMS,
)
async def area_events(
    lat: FromQuery[float],
    lng: FromQuery[float],
    radius_m: FromQuery[float],
    follow_area: NamedDependency[FollowArea],
    last_event_id: LastEventId = None,
) -> Stream_:
    stream = ok(await follow_area(lat, lng, radius_m, last_event_id))
    return _event_stream(stream, PUBLIC_SHAPE)


@get(
    "/me/live",
    summary="Follow my bookings (SSE)",
    description="Who may call: any signed-in user (their own bookings). "
    + _SSE
    + "every change of the caller's bookings, with their ids and statuses; "
    + _RECONNECT,
    tags=["live"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
)
async def my_booking_events(
    principal: NamedDependency[Principal],
    follow_my_bookings: NamedDependency[FollowMyBookings],
    last_event_id: LastEventId = None,
) -> Stream_:
    stream = ok(await follow_my_bookings(principal, last_event_id))
    return _event_stream(stream, PERSONAL_SHAPE)


# ---------------------------------------------------------------- WebSocket


async def _serve_socket(
    socket: WebSocket[Any, Any, Any],
    followed: Awaitable[Result[Stream, DomainError]],
    shape: Shape,
) -> None:
    result = await followed
    await socket.accept()
    if isinstance(result, Failure):
        error = result.failure()
        reason = error.detail.encode()[:_REASON_BYTES].decode(errors="ignore")
        kind = kind_of(error, PROBLEMS)
        await socket.close(code=4000 + (kind.status if kind else 422), reason=reason)
        return
    sender = asyncio.create_task(_send_all(socket, result.unwrap(), shape))
    watcher = asyncio.create_task(_until_closed(socket))
    _, pending = await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await task


async def _send_all(socket: WebSocket[Any, Any, Any], stream: Stream, shape: Shape) -> None:
    try:
        async for item in stream:
            if isinstance(item, LiveEvent):
                await socket.send_data(shape.ws(item))
            elif isinstance(item, Resync):
                resync = {"type": "resync", "id": None if item.id is None else str(item.id)}
                await socket.send_data(msgspec.json.encode(resync).decode())
            # Idle: nothing; the server's WebSocket pings keep the connection alive
    finally:
        await stream.aclose()


async def _until_closed(socket: WebSocket[Any, Any, Any]) -> None:
    """Reads (and ignores) what the client sends, until it goes away."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_data("text")


def _last_event_id(socket: WebSocket[Any, Any, Any], query: str | None) -> str | None:
    return query if query is not None else socket.headers.get("last-event-id")


@websocket("/live/offerings/{offering_id:str}/ws", opt={PUBLIC: True})
async def offering_socket(
    socket: WebSocket[Any, Any, Any],
    offering_id: FromPath[uuid.UUID],
    follow_offering: NamedDependency[FollowOffering],
    last_event_id: LastEventIdQuery = None,
) -> None:
    after = _last_event_id(socket, last_event_id)
    await _serve_socket(socket, follow_offering(OfferingId(offering_id), after), PUBLIC_SHAPE)


@websocket("/live/area/ws", opt={PUBLIC: True})
async def area_socket(
    socket: WebSocket[Any, Any, Any],
    lat: FromQuery[float],
    lng: FromQuery[float],
    radius_m: FromQuery[float],
    follow_area: NamedDependency[FollowArea],
    last_event_id: LastEventIdQuery = None,
) -> None:
    after = _last_event_id(socket, last_event_id)
    await _serve_socket(socket, follow_area(lat, lng, radius_m, after), PUBLIC_SHAPE)


@websocket("/me/live/ws")
async def my_bookings_socket(
    socket: WebSocket[Principal, Any, Any],
    follow_my_bookings: NamedDependency[FollowMyBookings],
    last_event_id: LastEventIdQuery = None,
) -> None:
    after = _last_event_id(socket, last_event_id)
    principal = principal_of(socket.user)  # set by the authentication middleware
    await _serve_socket(socket, follow_my_bookings(principal, after), PERSONAL_SHAPE)


def relay_lifespan(
    run: Callable[[], Awaitable[None]] | None,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Runs this process's live relay (docs/adr/0032) while the app serves."""

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if run is None:
            yield
            return
        task = asyncio.ensure_future(run())
        try:
            yield
        finally:
            task.cancel()
            # Never hold the shutdown: a relay stuck in I/O is abandoned (its connection dies
            # with the process, and with it the lock).
            stopped, _pending = await asyncio.wait({task}, timeout=_RELAY_STOP_SECONDS)
            if not stopped:
                _log.warning("live relay did not stop in time; abandoned")

    return lifespan


ROUTES = [
    offering_events,
    area_events,
    my_booking_events,
    offering_socket,
    area_socket,
    my_bookings_socket,
]
