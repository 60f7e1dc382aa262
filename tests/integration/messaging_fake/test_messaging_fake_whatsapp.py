"""The fake's WhatsApp Cloud API side spoken to over raw HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from devservers.messaging_fake import MessagingControlError
from messaging_fake_support import PHONE_NUMBER_ID, WHATSAPP_TOKEN, Messaging

PATH = f"/v21.0/{PHONE_NUMBER_ID}/messages"
TEMPLATE: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "to": "+4915123456789",
    "type": "template",
    "template": {
        "name": "reminder",
        "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}],
    },
    "biz_opaque_callback_data": "m-1",
}
TEXT: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "to": "4915123456789",
    "type": "text",
    "text": {"body": "Hi"},
}


@pytest.fixture
def api(messaging: Messaging) -> httpx.Client:
    headers = {"Authorization": f"Bearer {WHATSAPP_TOKEN}"}
    return httpx.Client(base_url=messaging.fake.base_url, headers=headers)


def test_a_template_is_accepted_as_the_cloud_api_answers(api: httpx.Client) -> None:
    response = api.post(PATH, json=TEMPLATE)

    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+4915123456789", "wa_id": "4915123456789"}]
    [message] = body["messages"]
    assert message["id"].startswith("wamid.")
    assert message["message_status"] == "accepted"


def test_text_outside_the_window_gets_error_131047(api: httpx.Client) -> None:
    response = api.post(PATH, json=TEXT)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 131047
    assert error["message"] == "(#131047) Re-engagement message"
    assert "24 hours" in error["error_data"]["details"]


def test_the_window_is_the_24_hours_after_the_last_inbound_message(
    api: httpx.Client, messaging: Messaging
) -> None:
    messaging.fake.control.whatsapp_inbound("+4915123456789", timestamp=time.time() - 24.1 * 3600)
    assert api.post(PATH, json=TEXT).status_code == 400

    messaging.fake.control.whatsapp_inbound("4915123456789", timestamp=time.time() - 3600)
    assert api.post(PATH, json=TEXT).status_code == 200


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"messaging_product": "sms"}, 100),
        ({"to": "call me"}, 100),
        ({"type": "image"}, 100),
        ({"template": {"name": "reminder"}}, 100),
        ({"biz_opaque_callback_data": "x" * 513}, 100),
        (
            {
                "template": {
                    "name": "reminder",
                    "language": {"code": "en"},
                    "components": [{"type": "body", "parameters": [{"type": "text", "text": " "}]}],
                }
            },
            131008,
        ),
    ],
)
def test_what_the_cloud_api_refuses_is_refused(
    api: httpx.Client, messaging: Messaging, change: dict[str, Any], code: int
) -> None:
    response = api.post(PATH, json=TEMPLATE | change)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert messaging.fake.control.whatsapp_messages() == []


def test_without_a_token_the_cloud_api_answers_401(messaging: Messaging) -> None:
    response = httpx.post(messaging.fake.base_url + PATH, json=TEMPLATE)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 190


def test_other_paths_are_not_found(api: httpx.Client) -> None:
    assert api.post("/v21.0/not-a-number/messages", json=TEMPLATE).status_code == 404
    assert api.get(PATH).status_code == 404


@pytest.mark.parametrize(("status", "code"), [(500, 131000), (429, 130429), (400, 100)])
def test_injected_failures_have_graph_error_bodies(
    api: httpx.Client, messaging: Messaging, status: int, code: int
) -> None:
    messaging.fake.control.fail_next("whatsapp", status)

    response = api.post(PATH, json=TEMPLATE)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert api.post(PATH, json=TEMPLATE).status_code == 200


def test_statuses_for_an_unknown_message_or_of_an_unknown_kind_are_control_errors(
    api: httpx.Client, messaging: Messaging
) -> None:
    wamid = api.post(PATH, json=TEMPLATE).json()["messages"][0]["id"]

    with pytest.raises(MessagingControlError, match="no sent message"):
        messaging.fake.control.whatsapp_status("wamid.nope", "delivered")
    with pytest.raises(MessagingControlError, match="status must be"):
        messaging.fake.control.whatsapp_status(wamid, "exploded")


def test_statuses_are_kept_on_the_message(api: httpx.Client, messaging: Messaging) -> None:
    wamid = api.post(PATH, json=TEMPLATE).json()["messages"][0]["id"]

    messaging.fake.control.whatsapp_status(wamid, "delivered")
    messaging.fake.control.whatsapp_status(wamid, "read")

    [message] = messaging.fake.control.whatsapp_messages()
    assert [s["status"] for s in message["statuses"]] == ["delivered", "read"]


def test_without_an_app_secret_no_webhook_can_be_signed(messaging: Messaging) -> None:
    messaging.fake.control.configure_webhooks(whatsapp_app_secret=None)

    with pytest.raises(MessagingControlError, match="app secret"):
        messaging.fake.control.whatsapp_inbound("+4915123456789")
