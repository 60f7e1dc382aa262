"""The fake as a process: started, stopped, and (with a state file) remembering what was sent
and its signing key across a restart, as `reserva serve` wants."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from devservers.messaging_fake import LocalMessaging
from devservers.net import free_port
from messaging_fake_support import SENDGRID_API_KEY

MAIL = {
    "personalizations": [{"to": [{"email": "ann@example.com"}]}],
    "from": {"email": "bookings@reserva.test"},
    "subject": "Hello",
    "content": [{"type": "text/plain", "value": "Hi"}],
}


def test_a_state_file_keeps_mails_and_the_signing_key_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "messaging.json"
    port = free_port()
    with LocalMessaging(port, state_file=state) as fake:
        key = fake.control.sendgrid_public_key()
        response = httpx.post(
            f"{fake.base_url}/v3/mail/send",
            json=MAIL,
            headers={"Authorization": f"Bearer {SENDGRID_API_KEY}"},
        )
        assert response.status_code == 202
        fake.control.whatsapp_inbound("+4915123456789", post=False)

    with LocalMessaging(port, state_file=state) as again:
        assert again.control.sendgrid_public_key() == key
        [mail] = again.control.mails()
        assert mail.x_message_id == response.headers["X-Message-Id"]
        assert len(again.control.whatsapp_messages()) == 0
        again.control.sendgrid_event(mail.x_message_id, "delivered")  # still known


def test_without_a_state_file_each_start_is_new() -> None:
    port = free_port()
    with LocalMessaging(port) as fake:
        first_key = fake.control.sendgrid_public_key()
    assert not fake.running
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{fake.base_url}/_test/health", timeout=1)
    with LocalMessaging(port) as again:
        assert again.control.health()
        assert again.control.sendgrid_public_key() != first_key
        assert again.control.mails() == []


def test_a_whatsapp_webhook_url_without_a_secret_is_refused_at_start() -> None:
    fake = LocalMessaging(free_port(), whatsapp_webhook_url="http://127.0.0.1:9/x")
    with pytest.raises(RuntimeError, match="app-secret"):
        fake.start()
