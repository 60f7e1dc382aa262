"""What the integrations unit tests share: a clock, callers, a recording poster, an integrator's
own signature check (written apart from the code under test), and the use cases over memory."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import attrs

from adapters.memory.clock import FixedClock
from adapters.memory.integrations import MemoryIntegrationsStore
from adapters.memory.keyring import MemoryKeyring
from core.integrations import (
    DeliverWebhook,
    DisableEndpoint,
    DispatchEventToEndpoints,
    ListDeliveries,
    ListEndpoints,
    PostOutcome,
    RedeliverWebhook,
    RegisterEndpoint,
    RotateEndpointSecret,
    WebhookPoster,
)
from core.shared.events import Event
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal, Role

START = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
TOLERANCE = timedelta(minutes=5)


def staff_of(provider_id: ProviderId, *, mfa: bool = True) -> Principal:
    return Principal(
        user_id=UserId(uuid.uuid4()),
        roles=frozenset({Role.STAFF}),
        provider_ids=frozenset({provider_id}),
        mfa=mfa,
    )


def integrator_verifies(
    header: str, body: bytes, secret: str, now: datetime, tolerance: timedelta = TOLERANCE
) -> bool:
    """What an integrator writes from our docs: parse `t=..,v1=..`, recompute HMAC-SHA256
    over "<t>." + body with their secret, compare in constant time with every v1, and refuse
    a timestamp further than the tolerance from their clock."""
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs(now.timestamp() - timestamp) > tolerance.total_seconds():
        return False
    expected = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


@attrs.define
class Posted:
    url: str
    body: bytes
    headers: dict[str, str]
    at: datetime


class RecordingPoster(WebhookPoster):
    """Answers from a script (default 200) and records every request with the clock's time."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.requests: list[Posted] = []
        self.answers: list[PostOutcome] = []

    def answer(self, *outcomes: PostOutcome) -> None:
        self.answers.extend(outcomes)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostOutcome:
        self.requests.append(Posted(url, body, dict(headers), self.clock.now()))
        if self.answers:
            return self.answers.pop(0)
        return PostOutcome(status=200, body="ok", latency_ms=3)


@attrs.define
class World:
    store: MemoryIntegrationsStore
    keyring: MemoryKeyring
    clock: FixedClock
    poster: RecordingPoster
    secrets: list[bytes]

    def _random(self) -> bytes:
        value = uuid.uuid4().bytes * 2
        self.secrets.append(value)
        return value

    @property
    def register(self) -> RegisterEndpoint:
        return RegisterEndpoint(
            uow=self.store, keyring=self.keyring, clock=self.clock, random=self._random
        )

    @property
    def rotate(self) -> RotateEndpointSecret:
        return RotateEndpointSecret(
            uow=self.store, keyring=self.keyring, clock=self.clock, random=self._random
        )

    @property
    def list_endpoints(self) -> ListEndpoints:
        return ListEndpoints(uow=self.store, keyring=self.keyring, clock=self.clock)

    @property
    def disable(self) -> DisableEndpoint:
        return DisableEndpoint(uow=self.store, keyring=self.keyring, clock=self.clock)

    @property
    def list_deliveries(self) -> ListDeliveries:
        return ListDeliveries(uow=self.store, keyring=self.keyring, clock=self.clock)

    @property
    def redeliver(self) -> RedeliverWebhook:
        return RedeliverWebhook(uow=self.store, keyring=self.keyring, clock=self.clock)

    @property
    def dispatch(self) -> DispatchEventToEndpoints:
        return DispatchEventToEndpoints(uow=self.store, keyring=self.keyring, clock=self.clock)

    @property
    def deliver(self) -> DeliverWebhook:
        return DeliverWebhook(
            uow=self.store, keyring=self.keyring, clock=self.clock, poster=self.poster
        )

    async def run_due_jobs(self) -> int:
        """Run every deferred delivery job due by now (a worker's turn); how many ran."""
        ran = 0
        for job in self.store.take_jobs():
            if job.at is not None and job.at > self.clock.now():
                self.store.jobs.append(job)
                continue
            await self.deliver(job.delivery_id, job.attempt)
            ran += 1
        return ran


def world() -> World:
    clock = FixedClock(START)
    return World(
        store=MemoryIntegrationsStore(),
        keyring=MemoryKeyring(),
        clock=clock,
        poster=RecordingPoster(clock),
        secrets=[],
    )


def booking_event(name: str, provider_id: ProviderId, at: datetime, **extra: object) -> Event:
    payload: dict[str, object] = {
        "booking_id": str(uuid.uuid4()),
        "offering_id": str(uuid.uuid4()),
        "provider_id": str(provider_id),
        "customer_id": str(uuid.uuid4()),
        "start": (at + timedelta(days=2)).isoformat(),
        "end": (at + timedelta(days=2, hours=1)).isoformat(),
        "seats": 1,
        "status": "held",
        "rescheduled_from": None,
    }
    payload.update(extra)
    return Event(name=name, occurred_at=at, payload=payload)
