"""Server-side analytics in the core: which outbox events become which GA4 events, consent
checked at send time, and nothing personal ever in what is sent (a Hypothesis property)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.memory.analytics import MemoryAnalytics, MemoryAnalyticsConsent, MemoryAnalyticsStore
from adapters.memory.clock import FixedClock
from adapters.memory.personal import MemoryPersonalData
from core.consent import AnonymousId, QueueTracking, TrackEvent, TrackOutcome
from core.consent.analytics import (
    CLIENT_ID_FIELD,
    MAX_EVENT_AGE,
    PARAMS,
    AnalyticsEvent,
    client_id,
    measurement_body,
    tracked,
)
from core.shared.events import Event
from core.shared.ids import UserId

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
CUSTOMER = UserId(uuid.uuid4())
BOOKING = uuid.uuid4()


def booking_event(name: str = "bookings.booking_confirmed", **extra: Any) -> Event:
    payload: dict[str, Any] = {
        "booking_id": str(BOOKING),
        "offering_id": str(uuid.uuid4()),
        "provider_id": str(uuid.uuid4()),
        "customer_id": str(CUSTOMER),
        "start": "2030-05-02T10:00:00+00:00",
        "end": "2030-05-02T11:00:00+00:00",
        "seats": 2,
        "status": "confirmed",
        "rescheduled_from": None,
        **extra,
    }
    return Event(name=name, occurred_at=NOW, payload=payload)


class World:
    def __init__(self, *granted: UserId | AnonymousId, enabled: bool = True) -> None:
        self.store = MemoryAnalyticsStore()
        self.analytics = MemoryAnalytics(enabled=enabled)
        self.consent = MemoryAnalyticsConsent(*granted)
        self.personal = MemoryPersonalData()
        self.clock = FixedClock(NOW)
        self.queue = QueueTracking(
            uow=self.store.uow_factory(), analytics=self.analytics, analytics_consent=self.consent
        )
        self.track = TrackEvent(
            uow=self.store.uow_factory(),
            analytics=self.analytics,
            analytics_consent=self.consent,
            personal_data=self.personal,
            clock=self.clock,
        )


# --- the mapping --------------------------------------------------------------------------


def test_a_confirmed_booking_is_a_purchase_with_its_price_and_seats() -> None:
    found = tracked(booking_event(price_minor=12550, currency="EUR"))

    assert found is not None
    assert found.subject == CUSTOMER
    assert found.name == "purchase"
    assert found.params == {"value": 125.5, "currency": "EUR", "quantity": 2}
    assert found.transaction == BOOKING


def test_an_amount_follows_its_currency_exponent() -> None:
    yen = tracked(booking_event(price_minor=1200, currency="JPY"))
    dinar = tracked(booking_event(price_minor=1200, currency="KWD"))

    assert yen is not None
    assert yen.params["value"] == 1200
    assert dinar is not None
    assert dinar.params["value"] == 1.2


def test_a_registration_is_a_sign_up_of_that_user() -> None:
    user = uuid.uuid4()
    event = Event(
        name="identity.email_verification_requested",
        occurred_at=NOW,
        payload={"user_id": str(user), "email": "ann@example.com", "sealed_token": "x"},
    )

    found = tracked(event)

    assert found is not None
    assert (found.subject, found.name, dict(found.params)) == (user, "sign_up", {"method": "email"})


def test_cancellations_and_refunds_keep_only_their_closed_words() -> None:
    cancelled = tracked(booking_event("bookings.booking_cancelled", cancelled_by="customer"))
    refund = tracked(
        Event(
            name="payments.refund_succeeded",
            occurred_at=NOW,
            payload={
                "booking_id": str(BOOKING),
                "customer_id": str(CUSTOMER),
                "refund_minor": 500,
                "currency": "EUR",
                "reason": "cancellation",
                "part": "deposit",
                "amount_minor": 1000,
            },
        )
    )

    assert cancelled is not None
    assert cancelled.params == {"cancelled_by": "customer"}
    assert refund is not None
    assert refund.name == "refund"
    assert refund.params == {
        "value": 5.0,
        "currency": "EUR",
        "reason": "cancellation",
        "payment_part": "deposit",
    }


@pytest.mark.parametrize(
    "event",
    [
        booking_event("bookings.slot_held"),
        booking_event(customer_id="ann@example.com"),
        booking_event(customer_id=None),
        Event(name="identity.password_reset_requested", occurred_at=NOW, payload={}),
    ],
)
def test_other_events_and_unsound_subjects_are_not_tracked(event: Event) -> None:
    assert tracked(event) is None


def test_event_names_and_parameters_are_checked_when_built() -> None:
    with pytest.raises(ValueError, match="GA4 event name"):
        AnalyticsEvent(name="_bad", occurred_at=NOW)
    with pytest.raises(ValueError, match="allow-listed"):
        AnalyticsEvent(name="purchase", params={"email": "ann@example.com"}, occurred_at=NOW)


def test_the_body_holds_a_client_id_and_at_most_25_events() -> None:
    event = AnalyticsEvent(name="sign_up", params={"method": "email"}, occurred_at=NOW)

    body = measurement_body("c1", [event])

    assert body == {
        "client_id": "c1",
        "timestamp_micros": int(NOW.timestamp()) * 1_000_000,
        "events": [{"name": "sign_up", "params": {"method": "email"}}],
    }
    with pytest.raises(ValueError, match=r"1\.\.25"):
        measurement_body("c1", [event] * 26)


async def test_the_client_id_is_a_keyed_pseudonym_and_anonymous_ids_go_as_they_are() -> None:
    personal = MemoryPersonalData()

    pseudonym = await client_id(CUSTOMER, personal)

    assert pseudonym == await personal.lookup_hash(str(CUSTOMER), field=CLIENT_ID_FIELD)
    assert str(CUSTOMER) not in pseudonym
    assert pseudonym != await MemoryPersonalData().lookup_hash(str(CUSTOMER), field=CLIENT_ID_FIELD)
    assert await client_id(AnonymousId("anon-7f3a"), personal) == "anon-7f3a"


# --- the use cases ------------------------------------------------------------------------


async def test_a_consented_purchase_is_queued_then_sent_under_a_pseudonym() -> None:
    world = World(CUSTOMER)
    event = booking_event(price_minor=1000, currency="EUR")
    world.store.publish(event)

    assert await world.queue(event.id) is True
    assert await world.queue(event.id) is True  # a second dispatch queues nothing more
    assert world.store.deferred == [event.id]
    assert await world.track(event.id) is TrackOutcome.SENT

    [sent] = world.analytics.sent
    assert sent.client_id == await world.personal.lookup_hash(str(CUSTOMER), field=CLIENT_ID_FIELD)
    [purchase] = sent.events
    assert purchase.name == "purchase"
    assert purchase.params["transaction_id"] != str(BOOKING)
    assert {k: purchase.params[k] for k in ("value", "currency", "quantity")} == {
        "value": 10.0,
        "currency": "EUR",
        "quantity": 2,
    }


async def test_without_consent_nothing_is_queued_or_sent() -> None:
    world = World()
    event = booking_event()
    world.store.publish(event)

    assert await world.queue(event.id) is False
    assert world.store.deferred == []
    assert await world.track(event.id) is TrackOutcome.NO_CONSENT
    assert world.analytics.sent == []


async def test_a_withdrawal_stops_a_job_already_queued() -> None:
    world = World(CUSTOMER)
    event = booking_event()
    world.store.publish(event)
    assert await world.queue(event.id) is True

    world.consent.withdraw(CUSTOMER)

    assert await world.track(event.id) is TrackOutcome.NO_CONSENT
    assert world.analytics.sent == []


async def test_analytics_off_queues_and_sends_nothing() -> None:
    world = World(CUSTOMER, enabled=False)
    event = booking_event()
    world.store.publish(event)

    assert await world.queue(event.id) is False
    assert await world.track(event.id) is TrackOutcome.OFF


async def test_unknown_untracked_and_stale_events_are_not_sent() -> None:
    world = World(CUSTOMER)
    held, stale = booking_event("bookings.slot_held"), booking_event()
    world.store.publish(held, stale)
    world.clock.advance(MAX_EVENT_AGE + timedelta(seconds=1))

    assert await world.track(booking_event().id) is TrackOutcome.UNKNOWN_EVENT
    assert await world.track(held.id) is TrackOutcome.NOT_TRACKED
    assert await world.track(stale.id) is TrackOutcome.TOO_OLD
    assert world.analytics.sent == []


async def test_a_failed_send_raises_for_the_job_to_retry() -> None:
    world = World(CUSTOMER)
    event = booking_event()
    world.store.publish(event)
    world.analytics.fail_next()

    with pytest.raises(ConnectionError):
        await world.track(event.id)
    assert await world.track(event.id) is TrackOutcome.SENT


# --- nothing personal, whatever the payload holds -----------------------------------------

emails = st.from_regex(r"[a-z]{3,10}\.[a-z]{3,10}@[a-z]{4,10}\.(com|org|example)", fullmatch=True)
phones = st.from_regex(r"\+[1-9][0-9]{8,13}", fullmatch=True)
names = st.from_regex(r"[A-Z][a-z]{3,10} [A-Z][a-z]{3,12}", fullmatch=True)
personal_values = st.one_of(emails, phones, names)
KEYS = [
    "booking_id", "customer_id", "user_id", "email", "name", "phone", "currency", "price_minor",
    "refund_minor", "seats", "cancelled_by", "reason", "part", "status", "note", "ip",
]  # fmt: skip
EVENT_NAMES = [
    "bookings.booking_confirmed",
    "bookings.booking_cancelled",
    "payments.refund_succeeded",
    "identity.email_verification_requested",
]


@st.composite
def poisoned_events(draw: st.DrawFn) -> tuple[Event, list[str]]:
    """A tracked event whose payload has personal values injected in any of its fields (known
    or not), beside sound ones; and the personal values, to look for."""
    name = draw(st.sampled_from(EVENT_NAMES))
    payload: dict[str, Any] = {
        "booking_id": str(BOOKING),
        "customer_id": str(CUSTOMER),
        "user_id": str(CUSTOMER),
        "price_minor": draw(st.integers(0, 10**9)),
        "refund_minor": draw(st.integers(0, 10**9)),
        "currency": draw(st.sampled_from(["EUR", "JPY", "USD"])),
        "seats": draw(st.integers(1, 20)),
        "cancelled_by": "customer",
        "reason": "goodwill",
        "part": "full",
    }
    secrets = draw(st.lists(personal_values, min_size=1, max_size=6))
    for value in secrets:
        key = draw(st.sampled_from(KEYS) | st.text(min_size=1, max_size=12))
        if draw(st.booleans()) or key not in payload:
            payload[key] = value
        else:  # nested: a dict or a list carrying it
            payload[key] = draw(st.sampled_from([{"value": value}, [value]]))
    return Event(name=name, occurred_at=NOW, payload=payload), secrets


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(poisoned_events())
async def test_whatever_the_payload_holds_nothing_personal_is_sent(
    case: tuple[Event, list[str]],
) -> None:
    event, secrets = case
    world = World(CUSTOMER)
    world.store.publish(event)

    await world.track(event.id)

    for sent in world.analytics.sent:
        body = json.dumps(measurement_body(sent.client_id, sent.events))
        for secret in [*secrets, str(CUSTOMER), str(BOOKING)]:
            assert secret not in body
        for analytics_event in sent.events:
            assert set(analytics_event.params) <= set(PARAMS)
