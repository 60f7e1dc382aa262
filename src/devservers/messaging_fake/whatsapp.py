"""The WhatsApp Cloud API as far as Reserva uses it: sending template and text messages, the
24-hour customer-service window, and the signed webhooks (statuses and inbound messages).

Free-form text is refused with error 131047 ("Re-engagement message") unless the recipient
wrote to us in the last 24 hours, by the fake's record of inbound messages (simulated with a
control). Webhooks have the Cloud API's shape (object whatsapp_business_account, entry[].
changes[].value) and carry `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, body)>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from typing import Any

from devservers.asgi import Request, Response, json_response

Obj = dict[str, Any]

WINDOW_SECONDS = 24 * 3600
WABA_ID = "102290129340398"  # the business account id the webhooks name
DISPLAY_PHONE_NUMBER = "15550783881"
DEFAULT_PHONE_NUMBER_ID = "106540352242922"
STATUSES = ("sent", "delivered", "read", "failed")
ERROR_TITLES = {
    131000: "Something went wrong",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "User has stopped marketing messages",
}
_PHONE = re.compile(r"^\+?[1-9]\d{6,14}$")
_PATH = re.compile(r"^/(v\d+\.\d+)/(\d+)/messages$")


class GraphError(Exception):
    """A Graph API error answer: {"error": {"message", "type", "code", ...}}."""

    def __init__(self, status: int, code: int, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def response(self) -> Response:
        body: Obj = {
            "message": self.message,
            "type": "OAuthException",
            "code": self.code,
            "fbtrace_id": base64.b64encode(secrets.token_bytes(16)).decode().rstrip("="),
        }
        if self.details is not None:
            body["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        return json_response(self.status, {"error": body})


def invalid(details: str) -> GraphError:
    return GraphError(400, 100, "(#100) Invalid parameter", details)


def unauthorized() -> GraphError:
    return GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")


def match_path(path: str) -> tuple[str, str] | None:
    """(version, phone number id) of `/{version}/{phone_number_id}/messages`."""
    found = _PATH.match(path)
    return (found[1], found[2]) if found else None


def sign(payload: bytes, app_secret: str) -> dict[str, str]:
    digest = hmac.new(app_secret.encode(), payload, hashlib.sha256).hexdigest()
    legacy = hmac.new(app_secret.encode(), payload, hashlib.sha1).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "facebookexternalua",
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-Hub-Signature": f"sha1={legacy}",
    }


def wa_id(phone: str) -> str:
    return re.sub(r"\D", "", phone)


class WhatsApp:
    """The messages sent, the inbound messages (the service windows) and their webhooks."""

    def __init__(self) -> None:
        self.messages: list[Obj] = []
        self.inbound: list[Obj] = []

    def last_inbound(self, recipient: str) -> float | None:
        times = [m["timestamp"] for m in self.inbound if m["wa_id"] == recipient]
        return max(times) if times else None

    # --- POST /{version}/{phone_number_id}/messages ---------------------------------------

    def send(self, request: Request, version: str, phone_number_id: str, now: float) -> Response:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError as bad:
            raise invalid(f"the body is not JSON: {bad}") from bad
        if not isinstance(body, dict):
            raise invalid("the body must be a JSON object")
        if body.get("messaging_product") != "whatsapp":
            raise invalid("messaging_product is required and must be 'whatsapp'")
        if body.get("recipient_type", "individual") != "individual":
            raise invalid("recipient_type must be 'individual'")
        to = body.get("to")
        if not isinstance(to, str) or not _PHONE.match(to):
            raise invalid("to must be a phone number: digits with an optional leading +")
        opaque = body.get("biz_opaque_callback_data")
        if opaque is not None and (not isinstance(opaque, str) or len(opaque) > 512):
            raise invalid("biz_opaque_callback_data must be a string of at most 512 characters")
        kind = body.get("type", "text")
        recipient = wa_id(to)
        if kind == "text":
            _check_text(body.get("text"))
            last = self.last_inbound(recipient)
            if last is None or now - last > WINDOW_SECONDS:
                raise GraphError(
                    400,
                    131047,
                    "(#131047) Re-engagement message",
                    "Message failed to send because more than 24 hours have passed since the "
                    "customer last replied to this number.",
                )
        elif kind == "template":
            _check_template(body.get("template"))
        else:
            raise invalid(f"the fake supports type 'text' and 'template', not {kind!r}")
        message_id = "wamid." + base64.b64encode(
            b"\x15\x02\x00\x11\x18\x12" + secrets.token_bytes(24)
        ).decode().rstrip("=")
        self.messages.append(
            {
                "id": message_id,
                "version": version,
                "phone_number_id": phone_number_id,
                "access_token": request.bearer(),
                "to": to,
                "wa_id": recipient,
                "type": kind,
                "text": body.get("text"),
                "template": body.get("template"),
                "biz_opaque_callback_data": opaque,
                "received_at": now,
                "request": body,
            }
        )
        answer: Obj = {"id": message_id}
        if kind == "template":
            answer["message_status"] = "accepted"
        return json_response(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": recipient}],
                "messages": [answer],
            },
        )

    # --- webhooks -------------------------------------------------------------------------

    def record_inbound(self, sender: str, text: str, timestamp: float, name: str | None) -> Obj:
        """A customer writes to the business: opens their 24-hour window; the webhook body."""
        if not _PHONE.match(sender):
            raise ValueError("from must be a phone number: digits with an optional leading +")
        message = {
            "from": wa_id(sender),
            "id": "wamid." + base64.b64encode(secrets.token_bytes(30)).decode().rstrip("="),
            "timestamp": str(int(timestamp)),
            "text": {"body": text},
            "type": "text",
        }
        self.inbound.append({"wa_id": wa_id(sender), "timestamp": timestamp, "message": message})
        value = {
            "messaging_product": "whatsapp",
            "metadata": self._metadata(DEFAULT_PHONE_NUMBER_ID),
            "contacts": [{"profile": {"name": name or "Customer"}, "wa_id": wa_id(sender)}],
            "messages": [message],
        }
        return _notification(value)

    def statuses(self, specs: list[Obj], now: float) -> Obj:
        """The statuses `specs` ask for ({"id", "status", "timestamp"?, "error_code"?,
        "error_title"?}) in one webhook body; raises ValueError."""
        by_number: dict[str, list[Obj]] = {}
        for spec in specs:
            message = next((m for m in self.messages if m["id"] == spec.get("id")), None)
            if message is None:
                raise ValueError(f"no sent message has id {spec.get('id')!r}")
            status = spec.get("status")
            if status not in STATUSES:
                raise ValueError(f"status must be one of {STATUSES}")
            entry: Obj = {
                "id": message["id"],
                "status": status,
                "timestamp": str(int(spec.get("timestamp", now))),
                "recipient_id": message["wa_id"],
            }
            if message["biz_opaque_callback_data"] is not None:
                entry["biz_opaque_callback_data"] = message["biz_opaque_callback_data"]
            if status in ("sent", "delivered"):
                category = "utility" if message["type"] == "template" else "service"
                entry["conversation"] = {"id": secrets.token_hex(16), "origin": {"type": category}}
                entry["pricing"] = {"billable": True, "pricing_model": "PMP", "category": category}
            if status == "failed":
                code = int(spec.get("error_code", 131026))
                title = spec.get("error_title") or ERROR_TITLES.get(code, "Message failed")
                entry["errors"] = [
                    {
                        "code": code,
                        "title": title,
                        "message": title,
                        "error_data": {"details": title},
                    }
                ]
            message.setdefault("statuses", []).append(entry)
            by_number.setdefault(message["phone_number_id"], []).append(entry)
        changes = [
            {
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": self._metadata(number),
                    "statuses": statuses,
                },
                "field": "messages",
            }
            for number, statuses in by_number.items()
        ]
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": changes}],
        }

    def _metadata(self, phone_number_id: str) -> Obj:
        return {"display_phone_number": DISPLAY_PHONE_NUMBER, "phone_number_id": phone_number_id}


def _notification(value: Obj) -> Obj:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}],
    }


def _check_text(text: Any) -> None:
    if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"]:
        raise invalid("text.body is required for a text message")
    if len(text["body"]) > 4096:
        raise invalid("text.body may hold at most 4096 characters")


def _check_template(template: Any) -> None:
    if not isinstance(template, dict) or not isinstance(template.get("name"), str):
        raise invalid("template.name is required for a template message")
    language = template.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str):
        raise invalid("template.language.code is required")
    components = template.get("components", [])
    if not isinstance(components, list):
        raise invalid("template.components must be an array")
    for component in components:
        if not isinstance(component, dict) or component.get("type") not in (
            "header", "body", "button",
        ):  # fmt: skip
            raise invalid("each template component needs a type: header, body or button")
        for parameter in component.get("parameters", []):
            if not isinstance(parameter, dict) or parameter.get("type") != "text":
                raise invalid("the fake supports text parameters only")
            if not isinstance(parameter.get("text"), str) or not parameter["text"].strip():
                raise GraphError(
                    400,
                    131008,
                    "(#131008) Required parameter is missing",
                    "A text parameter of the template is empty.",
                )
