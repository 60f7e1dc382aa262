"""StripeWebhookVerifier accepts exactly what Stripe signs, and nothing it did not sign (now)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from returns.result import Failure, Success

from adapters.stripe import StripeWebhookVerifier
from core.payments.model import BadSignature
from core.payments.ports import ProcessorEvent

SECRET = "whsec_test_secret"


def signed(body: bytes, secret: str = SECRET, at: int | None = None) -> str:
    """The Stripe-Signature header as Stripe computes it (docs: "verify manually")."""
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def event_body(**extra: object) -> bytes:
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": 1_900_000_000,
        "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 1000}},
        **extra,
    }
    return json.dumps(event).encode()


def test_a_signed_event_is_accepted_and_reduced_to_its_identity() -> None:
    body = event_body()

    result = StripeWebhookVerifier(SECRET).verify(body, signed(body))

    assert result == Success(
        ProcessorEvent(
            id="evt_1",
            type="payment_intent.succeeded",
            object_id="pi_1",
            account_ref=None,
            created_at=datetime.fromtimestamp(1_900_000_000, UTC),
        )
    )


def test_a_connect_event_names_its_connected_account() -> None:
    body = event_body(type="account.updated", account="acct_9", data={"object": {"id": "acct_9"}})

    event = StripeWebhookVerifier(SECRET).verify(body, signed(body)).unwrap()

    assert (event.type, event.object_id, event.account_ref) == (
        "account.updated",
        "acct_9",
        "acct_9",
    )


def test_one_good_signature_among_several_is_enough() -> None:
    """During a secret roll Stripe signs with both secrets."""
    body = event_body()
    header = signed(body)
    timestamp, good = header.split(",")

    result = StripeWebhookVerifier(SECRET).verify(body, f"{timestamp},v1={'0' * 64},{good}")

    assert isinstance(result, Success)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda body, header: (body.replace(b"1000", b"9000"), header), id="body"),
        pytest.param(lambda body, header: (body, signed(body, "whsec_other")), id="wrong-secret"),
        pytest.param(
            lambda body, header: (body, signed(body, at=int(time.time()) - 301)), id="stale"
        ),
        pytest.param(lambda body, header: (body, ""), id="no-header"),
        pytest.param(lambda body, header: (body, "garbage"), id="garbled-header"),
        pytest.param(lambda body, header: (body, header.replace("v1=", "v0=")), id="other-scheme"),
    ],
)
def test_anything_stripe_did_not_sign_just_now_is_refused(
    tamper: Callable[[bytes, str], tuple[bytes, str]],
) -> None:
    body = event_body()
    bad_body, bad_header = tamper(body, signed(body))

    result = StripeWebhookVerifier(SECRET).verify(bad_body, bad_header)

    assert isinstance(result, Failure)
    assert isinstance(result.failure(), BadSignature)


def test_the_tolerance_is_configurable() -> None:
    body = event_body()
    old = signed(body, at=int(time.time()) - 100)

    assert isinstance(
        StripeWebhookVerifier(SECRET, tolerance_seconds=60).verify(body, old), Failure
    )
    assert isinstance(
        StripeWebhookVerifier(SECRET, tolerance_seconds=300).verify(body, old), Success
    )


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"id": "evt_1"}', b"\xff\xfe", event_body(created="yesterday")],
)
def test_a_signed_body_that_is_no_event_is_refused(body: bytes) -> None:
    result = StripeWebhookVerifier(SECRET).verify(body, signed(body))

    assert isinstance(result, Failure)
    assert isinstance(result.failure(), BadSignature)


def test_the_verifier_refuses_to_run_without_a_secret_or_tolerance() -> None:
    with pytest.raises(ValueError, match="secret"):
        StripeWebhookVerifier(" ")
    with pytest.raises(ValueError, match="tolerance"):
        StripeWebhookVerifier(SECRET, tolerance_seconds=0)
