"""WhatsAppCloudSender over httpx against the local Cloud API fake: templates any time, free
text only inside the 24-hour window, and the provider's answers mapped."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from whatsapp_support import CUSTOMER, template, text, whatsapp_sender

from adapters.whatsapp import GRAPH_API_VERSION, WhatsAppCloudSender
from core.messaging.model import MessageId, SendFailedTemporarily, SendReceipt, SendRefused
from core.messaging.ports import OutgoingWhatsApp
from devservers.net import free_port
from messaging_fake_support import PHONE_NUMBER_ID, WHATSAPP_TOKEN, Messaging


@pytest.fixture
async def sender(messaging: Messaging) -> AsyncIterator[WhatsAppCloudSender]:
    client = whatsapp_sender(messaging)
    yield client
    await client.aclose()


async def test_a_template_goes_out_any_time_with_our_message_id(
    messaging: Messaging, sender: WhatsAppCloudSender
) -> None:
    message = template()

    receipt = await sender.send(message)

    assert isinstance(receipt, SendReceipt)
    assert receipt.provider_message_id.startswith("wamid.")
    [sent] = messaging.fake.control.whatsapp_messages()
    assert sent["id"] == receipt.provider_message_id
    assert (sent["version"], sent["phone_number_id"]) == (GRAPH_API_VERSION, PHONE_NUMBER_ID)
    assert sent["access_token"] == WHATSAPP_TOKEN
    assert sent["request"]["messaging_product"] == "whatsapp"
    assert sent["to"] == CUSTOMER
    assert sent["biz_opaque_callback_data"] == str(message.message_id)
    assert sent["type"] == "template"
    assert sent["template"] == {
        "name": "booking_confirmed",
        "language": {"code": "de"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Ann"},
                    {"type": "text", "text": "1. Dezember, 10:00"},
                ],
            }
        ],
    }


async def test_free_text_outside_the_window_is_refused_as_re_engagement(
    messaging: Messaging, sender: WhatsAppCloudSender
) -> None:
    refused = await sender.send(text())

    assert isinstance(refused, SendRefused)
    assert "131047" in refused.reason
    assert messaging.fake.control.whatsapp_messages() == []


async def test_free_text_goes_out_once_the_customer_wrote_within_24_hours(
    messaging: Messaging, sender: WhatsAppCloudSender
) -> None:
    messaging.fake.control.whatsapp_inbound(CUSTOMER, timestamp=time.time() - 23.5 * 3600)
    message = text()

    receipt = await sender.send(message)

    assert isinstance(receipt, SendReceipt)
    [sent] = messaging.fake.control.whatsapp_messages()
    assert sent["type"] == "text"
    assert sent["text"]["body"] == "Bis morgen!"
    assert sent["biz_opaque_callback_data"] == str(message.message_id)


async def test_a_message_from_the_customer_25_hours_ago_no_longer_opens_the_window(
    messaging: Messaging, sender: WhatsAppCloudSender
) -> None:
    messaging.fake.control.whatsapp_inbound(CUSTOMER, timestamp=time.time() - 25 * 3600)
    other = "+4917612345678"
    messaging.fake.control.whatsapp_inbound(other)  # someone else's window is no help

    assert isinstance(await sender.send(text()), SendRefused)
    assert isinstance(await sender.send(template()), SendReceipt)


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_outages_and_throttling_are_temporary(
    messaging: Messaging, sender: WhatsAppCloudSender, status: int
) -> None:
    messaging.fake.control.fail_next("whatsapp", status)

    with pytest.raises(SendFailedTemporarily, match=str(status)):
        await sender.send(template())
    assert isinstance(await sender.send(template()), SendReceipt)


async def test_a_bad_request_is_refused_for_good(
    messaging: Messaging, sender: WhatsAppCloudSender
) -> None:
    messaging.fake.control.fail_next("whatsapp", 400)

    refused = await sender.send(template())

    assert isinstance(refused, SendRefused)
    assert "400" in refused.reason


async def test_a_number_the_cloud_api_rejects_is_refused(sender: WhatsAppCloudSender) -> None:
    refused = await sender.send(template(to="+0123"))

    assert isinstance(refused, SendRefused)
    assert "(100)" in refused.reason


async def test_a_lost_answer_is_temporary(messaging: Messaging) -> None:
    messaging.fake.control.delay_next("whatsapp", seconds=1.0)
    sender = whatsapp_sender(messaging, timeout=0.3)
    try:
        with pytest.raises(SendFailedTemporarily, match="unreachable"):
            await sender.send(template())
    finally:
        await sender.aclose()


async def test_the_cloud_api_out_of_reach_is_temporary() -> None:
    nobody = WhatsAppCloudSender("t", "1", base_url=f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(SendFailedTemporarily):
            await nobody.send(template())
    finally:
        await nobody.aclose()


@pytest.mark.parametrize(("token", "number"), [("", PHONE_NUMBER_ID), (WHATSAPP_TOKEN, " ")])
def test_a_sender_needs_a_token_and_a_number(token: str, number: str) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        WhatsAppCloudSender(token, number)


@pytest.mark.parametrize("both", [True, False])
async def test_a_message_is_a_template_or_a_text(sender: WhatsAppCloudSender, both: bool) -> None:
    message = OutgoingWhatsApp(
        message_id=MessageId(uuid.uuid4()),
        to=CUSTOMER,
        template=template().template if both else None,
        text="hi" if both else None,
    )
    with pytest.raises(ValueError, match="template or a text"):
        await sender.send(message)
