"""The fake's SendGrid side spoken to over raw HTTP: what SendGrid accepts and refuses, the
Email Activity search, and the Event Webhook."""

from __future__ import annotations

import base64
import copy
from typing import Any

import httpx
import pytest

from devservers.messaging_fake import MessagingControlError
from messaging_fake_support import SENDGRID_API_KEY, Messaging

MAIL: dict[str, Any] = {
    "personalizations": [
        {"to": [{"email": "ann@example.com", "name": "Ann"}], "custom_args": {"k": "p"}}
    ],
    "from": {"email": "bookings@reserva.test", "name": "Reserva"},
    "subject": "Hello",
    "content": [{"type": "text/plain", "value": "Hi"}, {"type": "text/html", "value": "<p>Hi</p>"}],
    "categories": ["booking_held"],
    "custom_args": {"reserva_message_id": "m-1", "k": "mail"},
    "attachments": [
        {"content": base64.b64encode(b"ics").decode(), "filename": "a.ics", "type": "text/calendar"}
    ],
}
AUTH = {"Authorization": f"Bearer {SENDGRID_API_KEY}"}


@pytest.fixture
def api(messaging: Messaging) -> httpx.Client:
    return httpx.Client(base_url=messaging.fake.base_url, headers=AUTH)


def changed(path: str, value: Any) -> dict[str, Any]:
    """MAIL with the value at a dotted path replaced (None: removed)."""
    mail = copy.deepcopy(MAIL)
    *parents, last = path.split(".")
    target: Any = mail
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    key: Any = int(last) if last.isdigit() else last
    if value is None:
        del target[key]
    else:
        target[key] = value
    return mail


def test_a_valid_mail_is_accepted_with_an_x_message_id(
    api: httpx.Client, messaging: Messaging
) -> None:
    response = api.post("/v3/mail/send", json=MAIL)

    assert response.status_code == 202
    assert response.content == b""
    [mail] = messaging.fake.control.mails()
    assert response.headers["X-Message-Id"] == mail.x_message_id
    assert mail.custom_args == {"reserva_message_id": "m-1", "k": "p"}  # personalization wins
    assert mail.attachments[0].data == b"ics"


def test_a_template_needs_neither_subject_nor_content(api: httpx.Client) -> None:
    mail = changed("content", None)
    del mail["subject"]
    mail["template_id"] = "d-0123456789abcdef"

    assert api.post("/v3/mail/send", json=mail).status_code == 202


@pytest.mark.parametrize(
    ("mail", "field"),
    [
        (changed("personalizations", []), "personalizations"),
        (changed("personalizations.0.to", []), "personalizations.0.to"),
        (changed("personalizations.0.to.0.email", "ann"), "personalizations.0.to.0.email"),
        (changed("from", None), "from.email"),
        (changed("subject", None), "subject"),
        (changed("content", None), "content"),
        (changed("content.0.value", ""), "content.0.value"),
        (changed("content", list(reversed(MAIL["content"]))), "content"),
        (changed("categories", "booking_held"), "categories"),
        (changed("categories", [f"c{i}" for i in range(11)]), "categories"),
        (changed("custom_args", {"n": 1}), "custom_args"),
        (changed("attachments.0.content", "not base64!"), "attachments.0.content"),
        (changed("attachments.0.filename", None), "attachments.0.filename"),
        (changed("attachments.0.type", "text/calendar; method=REQUEST"), "attachments.0.type"),
        (changed("attachments.0.disposition", "inline"), "attachments.0.content_id"),
    ],
)
def test_what_sendgrid_refuses_is_refused_with_the_field(
    api: httpx.Client, messaging: Messaging, mail: dict[str, Any], field: str
) -> None:
    response = api.post("/v3/mail/send", json=mail)

    assert response.status_code == 400
    assert field in [error["field"] for error in response.json()["errors"]]
    assert messaging.fake.control.mails() == []


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer not-a-sendgrid-key", f"Basic {SENDGRID_API_KEY}"]
)
def test_without_a_sendgrid_key_nothing_is_answered(
    messaging: Messaging, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(base_url=messaging.fake.base_url, headers=headers) as api:
        assert api.post("/v3/mail/send", json=MAIL).status_code == 401
        assert api.get("/v3/messages", params={"limit": 1}).status_code == 401


def test_the_email_activity_finds_mails_by_custom_arg_and_msg_id(api: httpx.Client) -> None:
    first = api.post("/v3/mail/send", json=MAIL).headers["X-Message-Id"]
    second = api.post(
        "/v3/mail/send", json=changed("custom_args", {"reserva_message_id": "m-2"})
    ).headers["X-Message-Id"]

    def search(query: str) -> list[str]:
        response = api.get("/v3/messages", params={"query": query, "limit": 10})
        assert response.status_code == 200, response.text
        return [row["msg_id"].split(".")[0] for row in response.json()["messages"]]

    assert search("unique_args['reserva_message_id']=\"m-2\"") == [second]
    assert search("(unique_args['reserva_message_id']=\"m-1\")") == [first]
    assert search("unique_args['reserva_message_id']=\"m-3\"") == []
    assert search(f"msg_id LIKE '{first}%'") == [first]
    assert search('to_email="ann@example.com"') == [second, first]  # newest first
    assert search('to_email="ann@example.com" AND subject="Nope"') == []


def test_the_email_activity_row_has_sendgrids_fields(api: httpx.Client) -> None:
    x_message_id = api.post("/v3/mail/send", json=MAIL).headers["X-Message-Id"]

    [row] = api.get("/v3/messages", params={"limit": 1}).json()["messages"]

    assert row["msg_id"].startswith(f"{x_message_id}.filter")
    assert row["to_email"] == "ann@example.com"
    assert row["from_email"] == "bookings@reserva.test"
    assert row["subject"] == "Hello"
    assert row["status"] == "processed"


@pytest.mark.parametrize("params", [{"query": "bogus", "limit": 1}, {"limit": 0}])
def test_a_query_the_fake_cannot_read_is_refused(api: httpx.Client, params: dict[str, Any]) -> None:
    assert api.get("/v3/messages", params=params).status_code == 400


def test_a_failure_injected_fails_only_the_next_sends(
    api: httpx.Client, messaging: Messaging
) -> None:
    messaging.fake.control.fail_next("sendgrid", 503, times=2)

    statuses = [api.post("/v3/mail/send", json=MAIL).status_code for _ in range(3)]

    assert statuses == [503, 503, 202]
    assert len(messaging.fake.control.mails()) == 1


def test_events_follow_a_mails_status_in_the_activity(
    api: httpx.Client, messaging: Messaging
) -> None:
    x_message_id = api.post("/v3/mail/send", json=MAIL).headers["X-Message-Id"]

    messaging.fake.control.sendgrid_event(x_message_id, "bounce", type="bounce")

    [row] = api.get("/v3/messages", params={"limit": 1}).json()["messages"]
    assert row["status"] == "not_delivered"


def test_events_for_an_unknown_mail_or_of_an_unknown_kind_are_control_errors(
    api: httpx.Client, messaging: Messaging
) -> None:
    x_message_id = api.post("/v3/mail/send", json=MAIL).headers["X-Message-Id"]

    with pytest.raises(MessagingControlError, match="no sent mail"):
        messaging.fake.control.sendgrid_event("nope", "delivered")
    with pytest.raises(MessagingControlError, match="unknown event"):
        messaging.fake.control.sendgrid_event(x_message_id, "exploded")
    with pytest.raises(MessagingControlError, match="type"):
        messaging.fake.control.sendgrid_event(x_message_id, "bounce", type="soft")


def test_an_event_with_no_webhook_configured_is_recorded_as_undelivered(
    api: httpx.Client, messaging: Messaging
) -> None:
    x_message_id = api.post("/v3/mail/send", json=MAIL).headers["X-Message-Id"]
    messaging.fake.control.configure_webhooks(sendgrid_url=None)

    fired = messaging.fake.control.sendgrid_event(x_message_id, "delivered")

    assert fired.delivery is not None
    assert fired.delivery["status"] is None
    assert "no sendgrid webhook URL" in fired.delivery["error"]
    assert messaging.endpoint.take() == []
    assert messaging.fake.control.deliveries() == [fired.delivery]
