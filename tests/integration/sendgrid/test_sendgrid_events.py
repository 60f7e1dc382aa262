"""SendGridEmailEvents reading the fake's Event Webhook POSTs: signed with ECDSA P-256 as
SendGrid signs them, verified with the SDK's EventWebhook, mapped to status reports; forged,
tampered and stale requests are refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from sendgrid_support import email, sender

from adapters.sendgrid import SendGridEmailEvents, x_message_id
from core.messaging.model import MessageStatus, SendReceipt, StatusReport
from core.messaging.ports import OutgoingEmail
from devservers.messaging_fake import Fired
from messaging_fake_support import Messaging, Received

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


def now() -> datetime:
    return datetime.now(UTC)


async def sent(messaging: Messaging) -> tuple[OutgoingEmail, str]:
    outgoing = email()
    receipt = await sender(messaging).send(outgoing)
    assert isinstance(receipt, SendReceipt)
    return outgoing, receipt.provider_message_id


def events(messaging: Messaging) -> SendGridEmailEvents:
    return SendGridEmailEvents(messaging.fake.control.sendgrid_public_key())


def delivered_to_us(messaging: Messaging) -> Received:
    [request] = messaging.endpoint.take()
    assert request.path == "/webhooks/sendgrid"
    return request


@pytest.mark.parametrize(
    ("event", "fields", "status", "hard_bounce"),
    [
        ("processed", {}, MessageStatus.SENT, False),
        ("delivered", {}, MessageStatus.DELIVERED, False),
        ("open", {}, MessageStatus.READ, False),
        ("bounce", {"type": "bounce"}, MessageStatus.BOUNCED, True),
        ("bounce", {"type": "blocked"}, MessageStatus.BOUNCED, False),
        ("dropped", {}, MessageStatus.DROPPED, False),
        ("spamreport", {}, MessageStatus.SPAM_REPORTED, False),
        ("unsubscribe", {}, MessageStatus.UNSUBSCRIBED, False),
        ("group_unsubscribe", {}, MessageStatus.UNSUBSCRIBED, False),
    ],
)
async def test_each_event_posted_by_sendgrid_becomes_a_report(
    messaging: Messaging,
    event: str,
    fields: dict[str, str],
    status: MessageStatus,
    hard_bounce: bool,
) -> None:
    outgoing, provider_id = await sent(messaging)
    fired = messaging.fake.control.sendgrid_event(
        provider_id, event, timestamp=1_800_000_000, **fields
    )
    assert fired.delivery is not None
    assert fired.delivery["status"] == 200
    request = delivered_to_us(messaging)

    reports = events(messaging).reports(request.body, request.headers, now())

    assert reports == [
        StatusReport(
            message_id=outgoing.message_id,
            provider_message_id=provider_id,
            status=status,
            at=datetime.fromtimestamp(1_800_000_000, UTC),
            detail=reports[0].detail if reports else None,
            hard_bounce=hard_bounce,
        )
    ]
    if event in ("bounce", "dropped"):
        assert reports[0].detail  # the reason is kept for people to read


async def test_what_a_hard_bounce_says(messaging: Messaging) -> None:
    _, provider_id = await sent(messaging)
    messaging.fake.control.sendgrid_event(
        provider_id, "bounce", type="bounce", reason="550 5.1.1 no such user"
    )
    request = delivered_to_us(messaging)

    [report] = events(messaging).reports(request.body, request.headers, now()) or []

    assert report.hard_bounce
    assert report.detail == "bounce: 550 5.1.1 no such user"


async def test_a_batch_of_events_gives_every_report_and_skips_what_is_no_status(
    messaging: Messaging,
) -> None:
    first, first_id = await sent(messaging)
    second, second_id = await sent(messaging)
    messaging.fake.control.sendgrid_events(
        [
            {"x_message_id": first_id, "event": "processed"},
            {"x_message_id": first_id, "event": "deferred"},
            {"x_message_id": first_id, "event": "delivered"},
            {"x_message_id": second_id, "event": "click"},
            {"x_message_id": second_id, "event": "dropped", "reason": "Bounced Address"},
        ]
    )
    request = delivered_to_us(messaging)

    reports = events(messaging).reports(request.body, request.headers, now()) or []

    assert [(r.message_id, r.status) for r in reports] == [
        (first.message_id, MessageStatus.SENT),
        (first.message_id, MessageStatus.DELIVERED),
        (second.message_id, MessageStatus.DROPPED),
    ]
    assert reports[2].detail == "Bounced Address"
    assert not reports[2].hard_bounce  # dropped for an earlier bounce: no new verdict


async def test_the_body_is_sendgrids_shape(messaging: Messaging) -> None:
    outgoing, provider_id = await sent(messaging)
    messaging.fake.control.sendgrid_event(provider_id, "delivered")
    request = delivered_to_us(messaging)

    assert request.body.endswith(b"\r\n")  # as SendGrid's: only the raw bytes verify
    [event] = json.loads(request.body)
    assert event["email"] == "ann@example.com"
    assert event["event"] == "delivered"
    assert event["category"] == "booking_confirmed"
    assert event["reserva_message_id"] == str(outgoing.message_id)  # custom args at top level
    assert x_message_id(event["sg_message_id"]) == provider_id
    assert event["sg_message_id"] != provider_id
    assert isinstance(event["timestamp"], int)
    assert event["sg_event_id"]


async def test_the_signature_is_ecdsa_p256_over_timestamp_and_body(messaging: Messaging) -> None:
    """Checked here without the SDK, straight from SendGrid's documentation."""
    _, provider_id = await sent(messaging)
    fired = messaging.fake.control.sendgrid_event(provider_id, "delivered")
    der = base64.b64decode(messaging.fake.control.sendgrid_public_key())
    key = serialization.load_der_public_key(der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)

    signed = fired.headers[TIMESTAMP].encode() + fired.body
    key.verify(base64.b64decode(fired.headers[SIGNATURE]), signed, ec.ECDSA(hashes.SHA256()))


async def test_header_names_are_read_in_any_case(messaging: Messaging) -> None:
    _, provider_id = await sent(messaging)
    fired = messaging.fake.control.sendgrid_event(
        provider_id,
        "delivered",
    )
    lowered = {name.lower(): value for name, value in fired.headers.items()}

    assert events(messaging).reports(fired.body, lowered, now())


# --- refused --------------------------------------------------------------------------------


async def signed_delivery(messaging: Messaging) -> Fired:
    _, provider_id = await sent(messaging)
    return messaging.fake.control.sendgrid_events(
        [{"x_message_id": provider_id, "event": "bounce", "type": "bounce"}], post=False
    )


async def test_a_tampered_body_is_refused(messaging: Messaging) -> None:
    fired = await signed_delivery(messaging)
    tampered = fired.body.replace(b'"bounce"', b'"delivered"', 1)

    assert events(messaging).reports(tampered, fired.headers, now()) is None


async def test_the_body_parsed_and_written_again_is_refused(messaging: Messaging) -> None:
    fired = await signed_delivery(messaging)
    rewritten = json.dumps(json.loads(fired.body)).encode()

    assert events(messaging).reports(rewritten, fired.headers, now()) is None


async def test_a_signature_by_another_key_is_refused(messaging: Messaging) -> None:
    fired = await signed_delivery(messaging)
    forger = ec.generate_private_key(ec.SECP256R1())
    timestamp = fired.headers[TIMESTAMP]
    forged = forger.sign(timestamp.encode() + fired.body, ec.ECDSA(hashes.SHA256()))
    headers = fired.headers | {SIGNATURE: base64.b64encode(forged).decode()}

    assert events(messaging).reports(fired.body, headers, now()) is None


async def test_a_moved_timestamp_is_refused(messaging: Messaging) -> None:
    fired = await signed_delivery(messaging)
    headers = fired.headers | {TIMESTAMP: str(int(fired.headers[TIMESTAMP]) + 1)}

    assert events(messaging).reports(fired.body, headers, now()) is None


async def test_a_stale_signature_is_refused_and_a_recent_one_taken(messaging: Messaging) -> None:
    _, provider_id = await sent(messaging)
    at = now()
    spec = [{"x_message_id": provider_id, "event": "delivered"}]
    control = messaging.fake.control
    stale = control.sendgrid_events(spec, post=False, signed_at=int(at.timestamp()) - 301)
    recent = control.sendgrid_events(spec, post=False, signed_at=int(at.timestamp()) - 299)
    future = control.sendgrid_events(spec, post=False, signed_at=int(at.timestamp()) + 301)

    assert events(messaging).reports(stale.body, stale.headers, at) is None
    assert events(messaging).reports(future.body, future.headers, at) is None
    assert events(messaging).reports(recent.body, recent.headers, at)
    strict = SendGridEmailEvents(control.sendgrid_public_key(), tolerance=timedelta(seconds=60))
    assert strict.reports(recent.body, recent.headers, at) is None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SIGNATURE: "", TIMESTAMP: "1800000000"},
        {SIGNATURE: "bm90IGEgc2lnbmF0dXJl", TIMESTAMP: "{now}"},
        {SIGNATURE: "%%% not base64 %%%", TIMESTAMP: "{now}"},
        {SIGNATURE: "{signature}"},
        {SIGNATURE: "{signature}", TIMESTAMP: " {now}"},
        {SIGNATURE: "{signature}", TIMESTAMP: "+{now}"},
    ],
)
async def test_missing_or_malformed_headers_are_refused(
    messaging: Messaging, headers: dict[str, str]
) -> None:
    fired = await signed_delivery(messaging)
    values = {"now": fired.headers[TIMESTAMP], "signature": fired.headers[SIGNATURE]}
    given_headers = {name: value.format(**values) for name, value in headers.items()}

    assert events(messaging).reports(fired.body, given_headers, now()) is None


async def test_a_bad_public_key_fails_at_start_up() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - whatever cryptography says about the key
        SendGridEmailEvents("bm90IGEga2V5")


async def test_any_changed_byte_is_refused(messaging: Messaging) -> None:
    fired = await signed_delivery(messaging)
    verifier = events(messaging)
    at = now()

    @settings(max_examples=60, deadline=None)
    @given(st.data())
    def changed(data: st.DataObject) -> None:
        position = data.draw(st.integers(0, len(fired.body) - 1))
        flip = data.draw(st.integers(1, 255))
        body = bytearray(fired.body)
        body[position] ^= flip
        assert verifier.reports(bytes(body), fired.headers, at) is None

    changed()
