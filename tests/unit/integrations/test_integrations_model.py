"""The rules of endpoints and deliveries: URLs, event types, the outbox mapping, signatures
and the 24 h retry schedule."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from core.integrations import (
    RETRY_SPAN,
    EventType,
    event_type_of,
    parse_url,
    retry_at,
    signature_header,
    webhook_payload,
)
from core.integrations.model import new_secret, parse_event_types
from core.shared.events import Event
from core.shared.ids import ProviderId
from integrations_support import START, booking_event, integrator_verifies

PROVIDER = ProviderId(uuid.uuid4())


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/reserva",
        "https://hooks.example.com:8443/in?source=reserva",
        "https://[2001:db8::1]/hook",
        "https://127.0.0.1:9000/hook",  # allowed here; the poster refuses non-public addresses
    ],
)
def test_https_urls_are_accepted(url: str) -> None:
    assert parse_url(url) == Success(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/", "https"),
        ("ftp://hooks.example.com/", "https"),
        ("https://user:pass@hooks.example.com/", "credentials"),
        ("https://token@hooks.example.com/", "credentials"),
        ("https:///path-only", "host"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("https://hooks.example.com/\x00", "control"),
        ("https://hooks.example.com/\n", "control"),
        ("https://hooks.example.com/\u202eevil", "bidirectional"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks.example.com:99999/", "valid URL"),
        ("https://hooks.example.com/" + "a" * 2048, "characters"),
        ("", "characters"),
    ],
)
def test_bad_urls_are_refused_naming_the_reason(url: str, reason: str) -> None:
    result = parse_url(url)
    assert isinstance(result, Failure)
    assert result.failure().field == "url"
    assert reason in result.failure().reason


def test_event_types_are_a_non_empty_subset() -> None:
    assert parse_event_types(["held", "paid", "held"]) == Success(
        frozenset({EventType.HELD, EventType.PAID})
    )
    assert isinstance(parse_event_types([]), Failure)
    refused = parse_event_types(["held", "booking.created"])
    assert isinstance(refused, Failure)
    assert "booking.created" in refused.failure().reason


@pytest.mark.parametrize(
    ("name", "extra", "expected"),
    [
        ("bookings.slot_held", {}, EventType.HELD),
        ("bookings.slot_held", {"rescheduled_from": str(uuid.uuid4())}, EventType.RESCHEDULED),
        ("bookings.booking_confirmed", {}, EventType.CONFIRMED),
        ("bookings.booking_cancelled", {}, EventType.CANCELLED),
        ("bookings.booking_rescheduled", {}, EventType.RESCHEDULED),
        ("payments.payment_succeeded", {}, EventType.PAID),
        ("payments.refund_succeeded", {}, EventType.REFUNDED),
        ("payments.refund_failed", {}, None),
        ("bookings.booking_completed", {}, None),
        ("identity.password_reset_requested", {}, None),
    ],
)
def test_outbox_events_map_to_webhook_types(
    name: str, extra: dict[str, object], expected: EventType | None
) -> None:
    assert event_type_of(booking_event(name, PROVIDER, START, **extra)) is expected


def test_the_payload_carries_ids_times_and_statuses_but_no_personal_data() -> None:
    event = booking_event(
        "bookings.booking_cancelled",
        PROVIDER,
        START,
        cancelled_by="customer",
        email="ada@example.com",
        customer_name="Ada",
    )
    payload = webhook_payload(event, EventType.CANCELLED)
    data = payload["data"]
    assert payload["id"] == str(event.id)
    assert payload["type"] == "cancelled"
    assert payload["created"] == int(START.timestamp())
    assert data["booking_id"] == event.payload["booking_id"]
    assert data["cancelled_by"] == "customer"
    assert "customer_id" not in data
    assert "email" not in json.dumps(payload)
    assert "Ada" not in json.dumps(payload)


def test_a_payment_payload_keeps_its_money_and_ids() -> None:
    event = Event(
        name="payments.refund_succeeded",
        occurred_at=START,
        payload={
            "payment_id": "p",
            "booking_id": "b",
            "customer_id": "c",
            "provider_id": str(PROVIDER),
            "part": "full",
            "amount_minor": 5000,
            "currency": "EUR",
            "status": "succeeded",
            "refund_id": "r",
            "refund_minor": 2500,
            "reason": "cancellation",
            "refund_status": "succeeded",
        },
    )
    data = webhook_payload(event, EventType.REFUNDED)["data"]
    assert data["refund_minor"] == 2500
    assert data["currency"] == "EUR"
    assert "customer_id" not in data


def test_a_secret_is_whsec_and_64_hex_digits() -> None:
    secret = new_secret(bytes(range(32)))
    assert secret.startswith("whsec_")
    assert len(secret) == len("whsec_") + 64
    with pytest.raises(ValueError, match="32"):
        new_secret(b"short")


@given(
    body=st.binary(max_size=300),
    secrets=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=2),
    timestamp=st.integers(min_value=0, max_value=2**33),
)
def test_every_valid_secret_verifies_the_way_an_integrator_checks(
    body: bytes, secrets: list[str], timestamp: int
) -> None:
    header = signature_header(tuple(secrets), timestamp, body)
    now = datetime.fromtimestamp(timestamp, UTC)
    assert header.count("v1=") == len(secrets)
    for secret in secrets:
        assert integrator_verifies(header, body, secret, now)
    assert not integrator_verifies(header, body + b" ", secrets[0], now)
    assert not integrator_verifies(header, body, secrets[0] + "x", now)
    assert not integrator_verifies(header, body, secrets[0], now + timedelta(minutes=6))


def test_the_retry_schedule_backs_off_exponentially_and_ends_after_a_day() -> None:
    created = START
    at, gaps, attempts = created, [], 1
    while (following := retry_at(created, attempts, at)) is not None:
        gaps.append(following - at)
        at, attempts = following, attempts + 1
    minutes = [gap / timedelta(minutes=1) for gap in gaps]
    assert minutes[:7] == [1, 3, 9, 27, 81, 243, 729]
    assert at == created + RETRY_SPAN  # the last attempt is at the end of the span
    assert attempts == 9  # the first try, seven back-offs and the last at 24 h


@given(
    failures=st.integers(min_value=1, max_value=40),
    late=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
)
def test_a_retry_is_never_after_the_span_and_never_before_the_failure(
    failures: int, late: timedelta
) -> None:
    failed_at = START + late
    following = retry_at(START, failures, failed_at)
    if failed_at >= START + RETRY_SPAN:
        assert following is None
    else:
        assert following is not None
        assert failed_at < following <= START + RETRY_SPAN
