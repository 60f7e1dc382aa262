"""Live changes through one Redis stream: the fan-out across API processes and the history.

The relay appends each change to the stream `live:changes` (XADD, trimmed to about `history`
entries); the entry's id is the event's id, the one clients send back as `Last-Event-ID`.
Each API process reads the stream with one blocking XREAD and hands every entry to its own
subscribers whose topic it concerns: a thousand subscribers cost one Redis connection per
process, not a thousand. A reconnecting subscriber gets the entries after its id from the
stream (XRANGE) first, then live ones; when trimming (or a flush) may have removed entries
after its id, it gets a `Resync` instead of a silent gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import attrs
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from returns.result import Success

from core.bookings.live import (
    IDLE,
    Idle,
    LiveChange,
    LiveEvent,
    LiveEventId,
    LiveItem,
    LiveKind,
    Resync,
    Subscription,
    Topic,
    concerns,
)
from core.shared.geo import GeoPoint
from core.shared.ids import BookingId, OfferingId, PlaceId, UserId
from core.shared.time import TimeRange

_log = structlog.get_logger(__name__)

STREAM = "live:changes"
HISTORY = 10_000  # entries kept (about): minutes of changes at hundreds per second
QUEUE = 1_000  # changes waiting for one slow subscriber before it is told to resync
IDLE_SECONDS = 15.0  # an Idle to every subscriber this often (SSE keep-alives), from one task
_BLOCK_MS = 2_000  # under redis-py's default socket timeout (5 s), or every idle read fails
_RETRY_SECONDS = 0.5


def _encode(change: LiveChange) -> str:
    return json.dumps(
        {
            "k": change.kind.value,
            "b": str(change.booking_id),
            "o": str(change.offering_id),
            "p": str(change.place_id),
            "c": str(change.customer_id),
            "s": change.status,
            "f": change.during.start.isoformat(),
            "t": change.during.end.isoformat(),
            "y": change.location.lat,
            "x": change.location.lng,
            "at": change.changed_at.isoformat(),
        }
    )


def _decode(raw: Any) -> LiveChange:
    data = json.loads(raw)
    return LiveChange(
        kind=LiveKind(data["k"]),
        booking_id=BookingId(uuid.UUID(data["b"])),
        offering_id=OfferingId(uuid.UUID(data["o"])),
        place_id=PlaceId(uuid.UUID(data["p"])),
        customer_id=UserId(uuid.UUID(data["c"])),
        status=data["s"],
        during=TimeRange(datetime.fromisoformat(data["f"]), datetime.fromisoformat(data["t"])),
        location=GeoPoint(data["y"], data["x"]),
        changed_at=datetime.fromisoformat(data["at"]),
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _event_id(value: Any) -> LiveEventId:
    parsed = LiveEventId.parse(_text(value))
    assert isinstance(parsed, Success), value  # Redis makes every stream id of this form
    event_id: LiveEventId = parsed.unwrap()
    return event_id


def _event(entry_id: Any, fields: Any) -> LiveEvent:
    raw = fields.get(b"e", fields.get("e"))
    return LiveEvent(id=_event_id(entry_id), change=_decode(raw))


class RedisLivePublisher:
    """The relay's side: appends changes to the stream in the order given."""

    def __init__(self, redis: Redis, *, history: int = HISTORY, stream: str = STREAM) -> None:
        self._redis = redis
        self._history = history
        self._stream = stream

    async def publish(self, changes: Sequence[LiveChange]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for change in changes:
                pipe.xadd(
                    self._stream, {"e": _encode(change)}, maxlen=self._history, approximate=True
                )
            await pipe.execute()


@attrs.define(eq=False)
class _Subscriber:
    topic: Topic
    queue: asyncio.Queue[LiveEvent | Idle] = attrs.field(factory=lambda: asyncio.Queue(QUEUE))
    overflowed: bool = False


class RedisLiveFeed:
    """One process's subscribers, fed by one reader of the stream."""

    def __init__(self, redis: Redis, *, stream: str = STREAM) -> None:
        self._redis = redis
        self._stream = stream
        self._subscribers: set[_Subscriber] = set()
        self._reader: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self._position = "0-0"

    async def follow(self, topic: Topic, after: LiveEventId | None) -> Subscription:
        await self._start()
        subscriber = _Subscriber(topic)
        # Registered before the history is read: nothing published in between is lost, and
        # what both deliver is skipped by id.
        self._subscribers.add(subscriber)
        return Subscription(
            self._events(subscriber, after), lambda: self._subscribers.discard(subscriber)
        )

    async def _events(
        self, subscriber: _Subscriber, after: LiveEventId | None
    ) -> AsyncGenerator[LiveItem, None]:
        try:
            last = after
            if after is not None:
                async for item in self._history(subscriber.topic, after):
                    last = item.id if item.id is not None else last
                    yield item
            while True:
                if subscriber.overflowed:
                    subscriber.overflowed = False
                    subscriber.queue = asyncio.Queue(QUEUE)
                    last = _event_id(self._position)
                    yield Resync(id=last)
                event = await subscriber.queue.get()
                if isinstance(event, Idle) or last is None or event.id > last:
                    yield event
        finally:
            self._subscribers.discard(subscriber)

    async def close(self) -> None:
        for task in (self._reader, self._beat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._reader = self._beat = None

    async def _idle_beat(self) -> None:
        """One timer for every subscriber: no per-change timeout anywhere on the hot path."""
        while True:
            await asyncio.sleep(IDLE_SECONDS)
            for subscriber in self._subscribers:
                if subscriber.queue.empty():
                    subscriber.queue.put_nowait(IDLE)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def _start(self) -> None:
        if self._reader is not None and not self._reader.done():
            return
        async with self._starting:
            if self._reader is not None and not self._reader.done():
                return
            newest: Any = await self._redis.xrevrange(self._stream, count=1)
            self._position = _text(newest[0][0]) if newest else "0-0"
            self._reader = asyncio.create_task(self._read(), name="live feed reader")
            self._beat = asyncio.create_task(self._idle_beat(), name="live feed keep-alive")

    async def _read(self) -> None:
        while True:
            try:
                answer: Any = await self._redis.xread(
                    {self._stream: self._position}, block=_BLOCK_MS
                )
            except (RedisError, OSError) as error:
                _log.warning("live feed cannot read the stream", error=repr(error))
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            for _stream, entries in answer or ():
                for entry_id, fields in entries:
                    self._position = _text(entry_id)
                    self._dispatch(_event(entry_id, fields))

    def _dispatch(self, event: LiveEvent) -> None:
        for subscriber in self._subscribers:
            if subscriber.overflowed or not concerns(subscriber.topic, event.change):
                continue
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.overflowed = True  # it resyncs instead of missing changes silently

    async def _history(self, topic: Topic, after: LiveEventId) -> AsyncIterator[LiveEvent | Resync]:
        """The stream's entries after `after` that concern `topic`; a Resync first if entries
        after it may be gone (trimmed, or a stream that never reached it)."""
        try:
            info: Any = await self._redis.xinfo_stream(self._stream)
        except ResponseError:  # no stream at all: every id is unknown
            yield Resync(id=None)
            return
        newest = _event_id(info["last-generated-id"])
        trimmed = _event_id(info.get("max-deleted-entry-id") or "0-0")
        if after > newest or after < trimmed:
            yield Resync(id=newest)
            return
        start = f"({after}"
        while True:
            entries: Any = await self._redis.xrange(self._stream, min=start, max="+", count=500)
            if not entries:
                return
            for entry_id, fields in entries:
                event = _event(entry_id, fields)
                if concerns(topic, event.change):
                    yield event
            start = f"({_text(entries[-1][0])}"
