"""WhatsAppCloudEvents reading the fake's webhooks: statuses and inbound messages, signed with
X-Hub-Signature-256 as Meta signs them; the subscription handshake."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from whatsapp_support import CUSTOMER, template, whatsapp_sender

from adapters.whatsapp import WhatsAppCloudEvents, WhatsAppCloudSender
from core.messaging.model import MessageStatus, SendReceipt, StatusReport
from core.messaging.ports import OutgoingWhatsApp, WhatsAppNotice
from messaging_fake_support import (
    WHATSAPP_APP_SECRET,
    WHATSAPP_VERIFY_TOKEN,
    Messaging,
    Received,
)

EVENTS = WhatsAppCloudEvents(WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN)


@pytest.fixture
async def sender(messaging: Messaging) -> AsyncIterator[WhatsAppCloudSender]:
    client = whatsapp_sender(messaging)
    yield client
    await client.aclose()


async def sent(sender: WhatsAppCloudSender) -> tuple[OutgoingWhatsApp, str]:
    message = template()
    receipt = await sender.send(message)
    assert isinstance(receipt, SendReceipt)
    return message, receipt.provider_message_id


def delivered_to_us(messaging: Messaging) -> Received:
    [request] = messaging.endpoint.take()
    assert request.path == "/webhooks/whatsapp"
    return request


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("sent", MessageStatus.SENT),
        ("delivered", MessageStatus.DELIVERED),
        ("read", MessageStatus.READ),
    ],
)
async def test_statuses_become_reports_with_our_message_id(
    messaging: Messaging, sender: WhatsAppCloudSender, status: str, expected: MessageStatus
) -> None:
    message, wamid = await sent(sender)
    messaging.fake.control.whatsapp_status(wamid, status, timestamp=1_800_000_000)
    request = delivered_to_us(messaging)

    notice = EVENTS.notice(request.body, request.headers)

    assert notice == WhatsAppNotice(
        reports=(
            StatusReport(
                message_id=message.message_id,
                provider_message_id=wamid,
                status=expected,
                at=datetime.fromtimestamp(1_800_000_000, UTC),
            ),
        )
    )


async def test_a_failed_status_carries_the_error_title(
    messaging: Messaging, sender: WhatsAppCloudSender
) -> None:
    message, wamid = await sent(sender)
    messaging.fake.control.whatsapp_status(wamid, "failed", error_code=131026)
    request = delivered_to_us(messaging)

    notice = EVENTS.notice(request.body, request.headers)

    assert notice is not None
    [report] = notice.reports
    assert (report.message_id, report.status) == (message.message_id, MessageStatus.FAILED)
    assert report.detail == "131026: Message undeliverable"


async def test_several_statuses_in_one_webhook(
    messaging: Messaging, sender: WhatsAppCloudSender
) -> None:
    first, first_id = await sent(sender)
    second, second_id = await sent(sender)
    messaging.fake.control.whatsapp_statuses(
        [
            {"id": first_id, "status": "sent"},
            {"id": second_id, "status": "delivered"},
            {"id": first_id, "status": "read"},
        ]
    )
    request = delivered_to_us(messaging)

    notice = EVENTS.notice(request.body, request.headers)

    assert notice is not None
    assert [(r.message_id, r.status) for r in notice.reports] == [
        (first.message_id, MessageStatus.SENT),
        (second.message_id, MessageStatus.DELIVERED),
        (first.message_id, MessageStatus.READ),
    ]


async def test_an_inbound_message_opens_the_senders_window(messaging: Messaging) -> None:
    messaging.fake.control.whatsapp_inbound(CUSTOMER, "Kann ich umbuchen?", timestamp=1_800_000_000)
    request = delivered_to_us(messaging)

    notice = EVENTS.notice(request.body, request.headers)

    assert notice == WhatsAppNotice(
        inbound=((CUSTOMER, datetime.fromtimestamp(1_800_000_000, UTC)),)
    )


async def test_the_webhook_is_the_cloud_apis_shape(
    messaging: Messaging, sender: WhatsAppCloudSender
) -> None:
    message, wamid = await sent(sender)
    messaging.fake.control.whatsapp_status(wamid, "delivered")
    request = delivered_to_us(messaging)

    body = json.loads(request.body)
    assert body["object"] == "whatsapp_business_account"
    [entry] = body["entry"]
    [change] = entry["changes"]
    assert change["field"] == "messages"
    [status] = change["value"]["statuses"]
    assert status["id"] == wamid
    assert status["recipient_id"] == CUSTOMER.removeprefix("+")
    assert status["biz_opaque_callback_data"] == str(message.message_id)
    assert status["timestamp"].isdigit()


async def test_the_signature_is_the_hex_hmac_of_the_raw_body(messaging: Messaging) -> None:
    """Checked here with hmac alone, from Meta's documentation."""
    fired = messaging.fake.control.whatsapp_inbound(CUSTOMER)
    request = delivered_to_us(messaging)

    expected = hmac.new(WHATSAPP_APP_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Hub-Signature-256"] == f"sha256={expected}"
    assert fired.body == request.body


async def test_a_signature_with_another_secret_is_refused(messaging: Messaging) -> None:
    fired = messaging.fake.control.whatsapp_inbound(CUSTOMER, post=False)
    other = WhatsAppCloudEvents("another-app-secret", WHATSAPP_VERIFY_TOKEN)

    assert other.notice(fired.body, fired.headers) is None
    assert EVENTS.notice(fired.body, fired.headers) is not None


async def test_a_tampered_body_is_refused(messaging: Messaging) -> None:
    fired = messaging.fake.control.whatsapp_inbound(CUSTOMER, post=False)
    tampered = fired.body.replace(CUSTOMER.removeprefix("+").encode(), b"4917600000000")

    assert tampered != fired.body
    assert EVENTS.notice(tampered, fired.headers) is None


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=", "sha1={hex}", "{hex}", "sha256=00{hex}", "sha256={hex}0"],
)
async def test_missing_or_malformed_signatures_are_refused(
    messaging: Messaging, signature: str | None
) -> None:
    fired = messaging.fake.control.whatsapp_inbound(CUSTOMER, post=False)
    given = fired.headers["X-Hub-Signature-256"].removeprefix("sha256=")
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature.format(hex=given)

    assert EVENTS.notice(fired.body, headers) is None


async def test_header_names_are_read_in_any_case(messaging: Messaging) -> None:
    fired = messaging.fake.control.whatsapp_inbound(CUSTOMER, post=False)
    upper = {name.upper(): value for name, value in fired.headers.items()}

    assert EVENTS.notice(fired.body, upper) is not None


def test_a_signed_body_that_is_not_json_says_nothing() -> None:
    body = b"not json"
    signature = hmac.new(WHATSAPP_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()

    notice = EVENTS.notice(body, {"X-Hub-Signature-256": f"sha256={signature}"})

    assert notice == WhatsAppNotice()


def test_the_handshake_echoes_the_challenge_only_for_our_token() -> None:
    assert EVENTS.handshake("subscribe", WHATSAPP_VERIFY_TOKEN, "1158201444") == "1158201444"
    assert EVENTS.handshake("subscribe", "someone-elses-token", "1158201444") is None
    assert EVENTS.handshake("unsubscribe", WHATSAPP_VERIFY_TOKEN, "1158201444") is None
    assert EVENTS.handshake("subscribe", "", "1158201444") is None


def test_empty_secrets_are_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        WhatsAppCloudEvents("", WHATSAPP_VERIFY_TOKEN)
    with pytest.raises(ValueError, match="must not be empty"):
        WhatsAppCloudEvents(WHATSAPP_APP_SECRET, "")
