"""SendGridEmailSender through the real sendgrid SDK against the local SendGrid fake: what
arrives, how SendGrid's answers map to receipts, refusals and retries, and finding a mail
after a crash mid-send."""

from __future__ import annotations

import asyncio
import time
import uuid

import attrs
import pytest
from sendgrid_support import ICS, SENDER, SENDER_NAME, email, sender

from adapters.sendgrid import MESSAGE_ID_ARG, SendGridEmailSender
from core.messaging.model import MessageId, SendFailedTemporarily, SendReceipt, SendRefused
from devservers.net import free_port
from messaging_fake_support import Messaging


async def test_a_mail_arrives_with_its_ics_categories_and_our_message_id(
    messaging: Messaging,
) -> None:
    outgoing = email()

    receipt = await sender(messaging).send(outgoing)

    assert isinstance(receipt, SendReceipt)
    [mail] = messaging.fake.control.mails()
    assert receipt.provider_message_id == mail.x_message_id
    assert (mail.from_email, mail.from_name) == (SENDER, SENDER_NAME)
    assert mail.to == ("ann@example.com",)
    assert mail.subject == "Your booking is confirmed"
    assert mail.text == outgoing.rendered.text
    assert mail.html == outgoing.rendered.html
    assert mail.categories == ("booking_confirmed",)
    assert mail.custom_args == {MESSAGE_ID_ARG: str(outgoing.message_id)}
    [attachment] = mail.attachments
    assert attachment.data == ICS  # byte for byte, CRLFs and UTF-8 included
    assert attachment.filename == "booking.ics"
    assert attachment.type == "text/calendar"  # SendGrid refuses parameters in the type
    assert attachment.disposition == "attachment"
    assert [block["type"] for block in mail.request["content"]] == ["text/plain", "text/html"]


async def test_a_mail_without_attachments_has_none(messaging: Messaging) -> None:
    receipt = await sender(messaging).send(email(ics=None, category="password_reset"))

    assert isinstance(receipt, SendReceipt)
    [mail] = messaging.fake.control.mails()
    assert mail.attachments == ()
    assert mail.categories == ("password_reset",)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_outages_and_throttling_are_temporary(messaging: Messaging, status: int) -> None:
    messaging.fake.control.fail_next("sendgrid", status)
    mailer = sender(messaging)

    with pytest.raises(SendFailedTemporarily, match=str(status)):
        await mailer.send(email())
    assert messaging.fake.control.mails() == []
    assert isinstance(await mailer.send(email()), SendReceipt)  # the retry goes through


async def test_a_bad_request_is_refused_for_good(messaging: Messaging) -> None:
    messaging.fake.control.fail_next("sendgrid", 400)

    refused = await sender(messaging).send(email())

    assert isinstance(refused, SendRefused)
    assert "400" in refused.reason


async def test_an_address_sendgrid_cannot_take_is_refused_with_its_reason(
    messaging: Messaging,
) -> None:
    refused = await sender(messaging).send(email("not an address@example.com"))

    assert isinstance(refused, SendRefused)
    assert "personalizations.0.to.0.email" in refused.reason
    assert "valid address" in refused.reason
    assert messaging.fake.control.mails() == []


async def test_a_mail_the_sdk_will_not_build_is_refused(messaging: Messaging) -> None:
    outgoing = email()
    looks_like_a_key = attrs.evolve(
        outgoing, rendered=attrs.evolve(outgoing.rendered, text="SG.abc123.def456 leaked")
    )

    refused = await sender(messaging).send(looks_like_a_key)

    assert isinstance(refused, SendRefused)
    assert "ApiKeyIncluded" in refused.reason
    assert messaging.fake.control.mails() == []


async def test_a_wrong_key_is_refused(messaging: Messaging) -> None:
    mailer = SendGridEmailSender("not-a-sendgrid-key", SENDER, base_url=messaging.fake.base_url)

    refused = await mailer.send(email())

    assert isinstance(refused, SendRefused)
    assert "401" in refused.reason


async def test_sendgrid_out_of_reach_is_temporary() -> None:
    nobody = SendGridEmailSender("SG.x", SENDER, base_url=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(SendFailedTemporarily, match="unreachable"):
        await nobody.send(email())


async def test_find_answers_the_mail_sent_with_our_id_and_nothing_for_another(
    messaging: Messaging,
) -> None:
    mailer = sender(messaging)
    outgoing = email()
    receipt = await mailer.send(outgoing)
    await mailer.send(email())  # another mail, another id

    assert await mailer.find(outgoing.message_id) == receipt
    assert await mailer.find(MessageId(uuid.uuid4())) is None


async def test_an_answer_lost_after_sendgrid_accepted_is_found_before_sending_again(
    messaging: Messaging,
) -> None:
    """The send job's crash recovery: the call timed out, yet the mail is out."""
    messaging.fake.control.delay_next("sendgrid", seconds=1.5)
    mailer = sender(messaging, timeout=0.5)
    outgoing = email()

    with pytest.raises(SendFailedTemporarily):
        await mailer.send(outgoing)

    found = await mailer.find(outgoing.message_id)
    [mail] = messaging.fake.control.mails()
    assert found == SendReceipt(provider_message_id=mail.x_message_id)


async def test_find_failing_is_temporary_not_an_answer() -> None:
    nobody = SendGridEmailSender("SG.x", SENDER, base_url=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(SendFailedTemporarily):
        await nobody.find(MessageId(uuid.uuid4()))


async def test_a_slow_sendgrid_does_not_block_the_event_loop(messaging: Messaging) -> None:
    """The SDK is synchronous; the sender runs it in a thread, so other jobs keep going."""
    messaging.fake.control.delay_next("sendgrid", seconds=0.6)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    receipt = await sender(messaging).send(email())
    elapsed = time.monotonic() - started
    ticker.cancel()

    assert isinstance(receipt, SendReceipt)
    assert elapsed >= 0.6
    assert ticks >= 10  # the loop ran all along (blocked, it would have ticked once)
