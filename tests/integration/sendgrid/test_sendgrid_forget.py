"""Erasure at SendGrid: `forget` deletes an address from every suppression list through the
real SDK (DELETE /v3/suppression/{list}/{email}), idempotently; a hard bounce put it there."""

from __future__ import annotations

import logging

import pytest
from sendgrid_support import email, sender

from adapters.sendgrid import SendGridEmailSender
from core.messaging.model import SendFailedTemporarily, SendReceipt
from devservers.net import free_port
from messaging_fake_support import SENDGRID_API_KEY, Messaging

ADDRESS = "Forget.Me@example.com"


def _listed(messaging: Messaging, address: str) -> set[str]:
    lists = messaging.fake.control.suppressions()
    return {name for name, entries in lists.items() if address.lower() in entries}


async def test_forget_deletes_the_address_from_every_suppression_list(
    messaging: Messaging,
) -> None:
    sendgrid = sender(messaging)
    receipt = await sendgrid.send(email(ADDRESS))
    assert isinstance(receipt, SendReceipt)
    (mail,) = messaging.fake.control.mails()
    messaging.fake.control.sendgrid_event(mail.x_message_id, "bounce", type="bounce")
    for listed in ("blocks", "spam_reports", "invalid_emails"):
        messaging.fake.control.suppress(listed, ADDRESS)
    messaging.fake.control.suppress("bounces", "someone.else@example.com")
    assert _listed(messaging, ADDRESS) == {"bounces", "blocks", "spam_reports", "invalid_emails"}

    await sendgrid.forget(ADDRESS)
    await sendgrid.forget(ADDRESS)  # on no list any more: fine

    assert _listed(messaging, ADDRESS) == set()
    assert _listed(messaging, "someone.else@example.com") == {"bounces"}


async def test_an_unreachable_sendgrid_is_a_temporary_failure_naming_no_address() -> None:
    nowhere = SendGridEmailSender(
        "SG.test", "bookings@reserva.test", base_url=f"http://127.0.0.1:{free_port()}", timeout=2
    )
    with pytest.raises(SendFailedTemporarily) as failed:
        await nowhere.forget(ADDRESS)
    assert ADDRESS.lower() not in str(failed.value).lower()


async def test_forgetting_logs_neither_the_address_nor_the_api_key_even_at_debug(
    messaging: Messaging, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # a process that configured nothing but DEBUG
    sendgrid = sender(messaging)
    messaging.fake.control.suppress("bounces", ADDRESS)

    await sendgrid.send(email(ADDRESS))
    await sendgrid.forget(ADDRESS)

    assert _listed(messaging, ADDRESS) == set()
    assert ADDRESS.lower() not in caplog.text.lower()
    assert SENDGRID_API_KEY not in caplog.text
