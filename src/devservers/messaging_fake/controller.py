"""Start and stop the messaging fake as a child process, and drive its /_test controls."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from devservers.child_process import ChildFake, ChildServer, Control

Api = Literal["sendgrid", "whatsapp"]


class MessagingControlError(RuntimeError):
    """A control call failed; the message says why."""


@dataclass(frozen=True)
class SentAttachment:
    filename: str
    type: str | None
    disposition: str
    data: bytes  # decoded from the base64 the client sent


@dataclass(frozen=True)
class SentMail:
    """One accepted v3 mail send, as the fake received it."""

    x_message_id: str
    from_email: str
    from_name: str | None
    to: tuple[str, ...]
    subject: str | None
    text: str | None
    html: str | None
    categories: tuple[str, ...]
    custom_args: dict[str, str]  # the mail's, merged with its first personalization's
    attachments: tuple[SentAttachment, ...]
    sg_message_ids: tuple[str, ...]  # one per recipient, as its events carry it
    request: dict[str, Any]  # the JSON body as sent


@dataclass(frozen=True)
class Fired:
    """A webhook the fake built and signed: the exact body and headers, and (when it was
    POSTed) the delivery: {"url", "status", "error", "response"}."""

    body: bytes
    headers: dict[str, str]
    delivery: dict[str, Any] | None
    content: Any  # the events (SendGrid) or the notification (WhatsApp), parsed


class LocalMessaging(ChildFake["MessagingControl"]):
    """The SendGrid + WhatsApp Cloud API fake on 127.0.0.1:`port`, memory only unless a
    `state_file` is given. Point the SendGrid SDK's `host` and the WhatsApp client's base URL at
    `base_url`; any SendGrid key starting "SG." and any WhatsApp token is accepted. The child
    process exits with its parent."""

    def __init__(
        self,
        port: int,
        *,
        sendgrid_webhook_url: str | None = None,
        whatsapp_webhook_url: str | None = None,
        whatsapp_app_secret: str | None = None,
        state_file: Path | None = None,
        log_file: Path | None = None,
    ) -> None:
        arguments: list[str] = []
        if sendgrid_webhook_url is not None:
            arguments += ["--sendgrid-webhook-url", sendgrid_webhook_url]
        if whatsapp_webhook_url is not None:
            arguments += ["--whatsapp-webhook-url", whatsapp_webhook_url]
        if whatsapp_app_secret is not None:
            arguments += ["--whatsapp-app-secret", whatsapp_app_secret]
        if state_file is not None:
            arguments += ["--state-file", str(state_file)]
        super().__init__(
            ChildServer("devservers.messaging_fake", port, arguments, log_file=log_file),
            MessagingControl,
        )


class MessagingControl(Control):
    """Thin calls to the fake's test-only endpoints (no authentication)."""

    error = MessagingControlError

    def health(self) -> bool:
        return bool(self._call("GET", "/_test/health")["ok"])

    def reset(self) -> None:
        """Forget every mail, suppression, message, inbound message, delivery and fault (the webhook
        configuration and the signing key stay)."""
        self._call("POST", "/_test/reset")

    def configure_webhooks(self, **settings: str | None) -> None:
        """Any of sendgrid_url, whatsapp_url, whatsapp_app_secret (None unsets it)."""
        unknown = set(settings) - {"sendgrid_url", "whatsapp_url", "whatsapp_app_secret"}
        if unknown:
            raise ValueError(f"unknown webhook settings {sorted(unknown)}")
        self._call("POST", "/_test/webhooks", json=settings)

    def fail_next(self, api: Api, status: int, times: int = 1) -> None:
        """The next `times` sends to `api` are answered `status` (400, 429, 500, 502, 503)
        with the provider's error body, and nothing is sent."""
        self._call("POST", "/_test/faults", json={"api": api, "status": status, "times": times})

    def delay_next(self, api: Api, seconds: float, times: int = 1) -> None:
        """The next `times` sends to `api` are carried out, then answered only after `seconds`
        (longer than the client waits: the answer is lost, the message is out)."""
        fault = {"api": api, "delay": seconds, "times": times}
        self._call("POST", "/_test/faults", json=fault)

    # --- SendGrid -------------------------------------------------------------------------

    def sendgrid_public_key(self) -> str:
        """The Event Webhook's verification key: base64 DER, as SendGrid's settings show it."""
        key: str = self._call("GET", "/_test/sendgrid/public_key")["public_key"]
        return key

    def mails(self) -> list[SentMail]:
        return [_mail(raw) for raw in self._call("GET", "/_test/sendgrid/mails")["mails"]]

    def sendgrid_events(
        self, events: list[dict[str, Any]], *, post: bool = True, signed_at: int | None = None
    ) -> Fired:
        """Fire SendGrid events in one signed batch. Each: {"x_message_id" (or
        "sg_message_id"), "event": processed|deferred|delivered|open|click|bounce|dropped|
        spamreport|unsubscribe|group_unsubscribe, "type": bounce|blocked (a bounce's),
        "reason"?, "email"?, "timestamp"?}. `signed_at` signs with another time (stale tests);
        `post=False` only builds and signs it."""
        body: dict[str, Any] = {"events": events, "post": post}
        if signed_at is not None:
            body["signed_at"] = signed_at
        answer = self._call("POST", "/_test/sendgrid/events", json=body)
        return Fired(answer["body"].encode(), answer["headers"], answer["delivery"],
                     answer["events"])  # fmt: skip

    def sendgrid_event(self, x_message_id: str, event: str, **fields: Any) -> Fired:
        return self.sendgrid_events([{"x_message_id": x_message_id, "event": event, **fields}])

    def suppressions(self) -> dict[str, dict[str, dict[str, Any]]]:
        """SendGrid's suppression lists: {"bounces"|"blocks"|"spam_reports"|"invalid_emails":
        {lower-cased address: {"email", "created", "reason", "status"}}}."""
        lists: dict[str, dict[str, dict[str, Any]]] = self._call(
            "GET", "/_test/sendgrid/suppressions"
        )["suppressions"]
        return lists

    def suppress(self, listed: str, address: str, reason: str = "added by a test") -> None:
        """Put `address` on one suppression list, as SendGrid would after an event."""
        body = {"list": listed, "email": address, "reason": reason}
        self._call("POST", "/_test/sendgrid/suppressions", json=body)

    # --- WhatsApp -------------------------------------------------------------------------

    def whatsapp_messages(self) -> list[dict[str, Any]]:
        """Every message sent: {"id" (wamid), "to", "wa_id", "type", "text", "template",
        "biz_opaque_callback_data", "phone_number_id", "version", "request", "statuses"?}."""
        messages: list[dict[str, Any]] = self._call("GET", "/_test/whatsapp/messages")["messages"]
        return messages

    def whatsapp_inbound(
        self,
        sender: str,
        text: str = "Hello",
        *,
        timestamp: float | None = None,
        name: str | None = None,
        post: bool = True,
    ) -> Fired:
        """`sender` writes to the business (opening their 24-hour window from `timestamp`);
        POSTed, signed, to the WhatsApp webhook URL when one is configured."""
        body: dict[str, Any] = {"from": sender, "text": text, "post": post}
        if timestamp is not None:
            body["timestamp"] = timestamp
        if name is not None:
            body["name"] = name
        return self._fired(self._call("POST", "/_test/whatsapp/inbound", json=body))

    def whatsapp_statuses(self, statuses: list[dict[str, Any]], *, post: bool = True) -> Fired:
        """Statuses in one signed webhook: each {"id": wamid, "status": sent|delivered|read|
        failed, "timestamp"?, "error_code"?, "error_title"?}."""
        body = {"statuses": statuses, "post": post}
        return self._fired(self._call("POST", "/_test/whatsapp/statuses", json=body))

    def whatsapp_status(self, wamid: str, status: str, **fields: Any) -> Fired:
        return self.whatsapp_statuses([{"id": wamid, "status": status, **fields}])

    def deliveries(self) -> list[dict[str, Any]]:
        """Every webhook POST so far: {"api", "url", "at", "status", "error", "response"}."""
        found: list[dict[str, Any]] = self._call("GET", "/_test/webhooks/deliveries")["deliveries"]
        return found

    def _fired(self, answer: dict[str, Any]) -> Fired:
        return Fired(answer["body"].encode(), answer["headers"], answer["delivery"],
                     answer["notification"])  # fmt: skip


def _mail(raw: dict[str, Any]) -> SentMail:
    request = raw["request"]
    content = {block["type"]: block["value"] for block in request.get("content") or []}
    first = request["personalizations"][0]
    sender = request["from"]
    return SentMail(
        x_message_id=raw["x_message_id"],
        from_email=sender["email"],
        from_name=sender.get("name"),
        to=tuple(r["email"] for r in raw["recipients"] if r["kind"] == "to"),
        subject=first.get("subject", request.get("subject")),
        text=content.get("text/plain"),
        html=content.get("text/html"),
        categories=tuple(request.get("categories") or ()),
        custom_args={**request.get("custom_args", {}), **first.get("custom_args", {})},
        attachments=tuple(
            SentAttachment(
                a["filename"],
                a.get("type"),
                a.get("disposition", "attachment"),
                base64.b64decode(a["content"]),
            )
            for a in request.get("attachments") or ()
        ),
        sg_message_ids=tuple(r["sg_message_id"] for r in raw["recipients"]),
        request=request,
    )
