"""One messaging fake (SendGrid + WhatsApp Cloud API) for the whole test session, shared by
every directory that asks for it, and a webhook endpoint that keeps what it receives.

Pytest scopes a session fixture to the conftest defining it, so each test directory's
conftest asks `shared_messaging(config)` instead: the first asker starts the fake, the session's
end stops it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from devservers.messaging_fake import LocalMessaging
from devservers.net import free_port
from post_recorder import PostRecorder

WHATSAPP_APP_SECRET = "whatsapp-app-secret-for-tests"
WHATSAPP_VERIFY_TOKEN = "whatsapp-verify-token-for-tests"
SENDGRID_API_KEY = "SG.reserva-tests.key"
WHATSAPP_TOKEN = "EAAG-reserva-tests-token"
PHONE_NUMBER_ID = "106540352242922"


@dataclass(frozen=True)
class Received:
    path: str
    body: bytes
    headers: dict[str, str]


class WebhookEndpoint(PostRecorder[Received]):
    """Stands for POST /webhooks/sendgrid and /webhooks/whatsapp: keeps every request, 200."""

    def __init__(self) -> None:
        super().__init__(lambda path, body, headers: Received(path, body, dict(headers)))

    @property
    def sendgrid_url(self) -> str:
        return f"{self.base_url}/webhooks/sendgrid"

    @property
    def whatsapp_url(self) -> str:
        return f"{self.base_url}/webhooks/whatsapp"


@dataclass(frozen=True)
class Messaging:
    fake: LocalMessaging
    endpoint: WebhookEndpoint


_SHARED = "_reserva_shared_messaging_fake"


def shared_messaging(config: pytest.Config) -> Messaging:
    """The session's fake and webhook endpoint, started on first use."""
    shared: Messaging | None = getattr(config, _SHARED, None)
    if shared is None:
        endpoint = WebhookEndpoint()
        fake = LocalMessaging(
            free_port(),
            sendgrid_webhook_url=endpoint.sendgrid_url,
            whatsapp_webhook_url=endpoint.whatsapp_url,
            whatsapp_app_secret=WHATSAPP_APP_SECRET,
        )
        fake.start()
        config.add_cleanup(endpoint.close)
        config.add_cleanup(fake.stop)
        shared = Messaging(fake, endpoint)
        setattr(config, _SHARED, shared)
    return shared


def fresh(messaging: Messaging) -> Messaging:
    """The shared fake, forgetting what earlier tests sent, failed or received."""
    messaging.fake.control.reset()
    messaging.fake.control.configure_webhooks(
        sendgrid_url=messaging.endpoint.sendgrid_url,
        whatsapp_url=messaging.endpoint.whatsapp_url,
        whatsapp_app_secret=WHATSAPP_APP_SECRET,
    )
    messaging.endpoint.take()
    return messaging
