"""The ASGI app: SendGrid's v3 API and the WhatsApp Cloud API side by side, the injected
faults, and the /_test controls (list what was sent, fail the next sends, fire signed webhooks).

Handlers run on the server's one event loop and do their work without awaiting, so requests
never interleave; only the webhook POSTs and a slow fault's delay await.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devservers.asgi import (
    BadJson,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    json_response,
    read_request,
    send_response,
)
from devservers.messaging_fake.sendgrid import (
    SendGrid,
    SendGridError,
    key_from_pem,
    key_to_pem,
    unauthorized,
)
from devservers.messaging_fake.whatsapp import GraphError, WhatsApp, match_path, sign
from devservers.messaging_fake.whatsapp import unauthorized as graph_unauthorized

_log = logging.getLogger(__name__)
Obj = dict[str, Any]
APIS = ("sendgrid", "whatsapp")


@dataclass(frozen=True)
class Settings:
    sendgrid_webhook_url: str | None = None
    whatsapp_webhook_url: str | None = None
    whatsapp_app_secret: str | None = None
    # Where sent mails, messages, inbound windows and the signing key outlive a restart (what
    # `reserva serve` keeps under ./.data). None: memory only, as tests want.
    state_file: Path | None = None


@dataclass
class Fault:
    """The next `times` sends to `api` fail with `status`, or (status None) are carried out and
    answered only after `delay` seconds (longer than the client waits: a lost answer)."""

    api: str
    times: int
    status: int | None = None
    delay: float = 0.0


@dataclass
class Webhooks:
    sendgrid_url: str | None = None
    whatsapp_url: str | None = None
    whatsapp_app_secret: str | None = None
    deliveries: list[Obj] = field(default_factory=list)


class MessagingFake:
    def __init__(self, settings: Settings) -> None:
        self.state_file = settings.state_file
        state = self._load()
        key = key_from_pem(state["signing_key"]) if "signing_key" in state else None
        self.sendgrid = SendGrid(key)
        self.sendgrid.mails = state.get("mails", [])
        self.sendgrid.suppressions |= state.get("suppressions", {})
        self.whatsapp = WhatsApp()
        self.whatsapp.messages = state.get("whatsapp_messages", [])
        self.whatsapp.inbound = state.get("whatsapp_inbound", [])
        self.webhooks = Webhooks(
            settings.sendgrid_webhook_url,
            settings.whatsapp_webhook_url,
            settings.whatsapp_app_secret,
        )
        self.faults: list[Fault] = []
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        try:
            response = await self._serve(request)
        except Exception as bug:  # a bug in the fake: a 500, loudly logged
            _log.exception("%s %s failed", request.method, request.path)
            response = json_response(500, {"error": f"messaging fake bug: {bug!r}"})
        if self.state_file is not None and request.method != "GET":
            self._save(self.state_file)
        await send_response(send, response)

    async def _serve(self, request: Request) -> Response:
        if request.path.startswith("/_test/"):
            try:
                return await self._control(request)
            except (BadJson, ValueError, KeyError, TypeError) as bad:
                return json_response(400, {"error": f"{type(bad).__name__}: {bad}"})
        if request.path.startswith("/v3/"):
            return await self._sendgrid(request)
        if (matched := match_path(request.path)) is not None and request.method == "POST":
            return await self._whatsapp(request, *matched)
        return json_response(404, {"error": f"Unknown URL: {request.method} {request.path}"})

    async def _sendgrid(self, request: Request) -> Response:
        try:
            if not (request.bearer() or "").startswith("SG."):  # SendGrid's keys all do
                raise unauthorized()
            if request.method == "POST" and request.path == "/v3/mail/send":
                fault = self._take_fault("sendgrid")
                if fault is not None and fault.status is not None:
                    raise SendGridError(
                        fault.status, [{"message": _REASONS[fault.status], "field": None,
                                        "help": None}]
                    )  # fmt: skip
                response = self.sendgrid.send(request)
                if fault is not None:
                    await asyncio.sleep(fault.delay)
                return response
            if request.method == "GET" and request.path == "/v3/messages":
                return self.sendgrid.search(request)
            suppression = self.sendgrid.suppression(request)
            if suppression is not None:
                return suppression
        except SendGridError as error:
            return error.response()
        return SendGridError(404, [{"message": "resource not found", "field": None,
                                    "help": None}]).response()  # fmt: skip

    async def _whatsapp(self, request: Request, version: str, phone_number_id: str) -> Response:
        try:
            if request.bearer() is None:
                raise graph_unauthorized()
            fault = self._take_fault("whatsapp")
            if fault is not None and fault.status is not None:
                code = {429: 130429, 400: 100}.get(fault.status, 131000)
                raise GraphError(fault.status, code, f"(#{code}) {_REASONS[fault.status]}")
            response = self.whatsapp.send(request, version, phone_number_id, time.time())
            if fault is not None:
                await asyncio.sleep(fault.delay)
            return response
        except GraphError as error:
            return error.response()

    def _take_fault(self, api: str) -> Fault | None:
        fault = next((f for f in self.faults if f.api == api), None)
        if fault is not None:
            fault.times -= 1
            if fault.times <= 0:
                self.faults.remove(fault)
        return fault

    # --- /_test controls ------------------------------------------------------------------

    async def _control(self, request: Request) -> Response:
        route = (request.method, request.path.removeprefix("/_test"))
        if route == ("GET", "/health"):
            return json_response(200, {"ok": True})
        if route == ("POST", "/reset"):
            self.sendgrid.mails.clear()
            for entries in self.sendgrid.suppressions.values():
                entries.clear()
            self.whatsapp.messages.clear()
            self.whatsapp.inbound.clear()
            self.webhooks.deliveries.clear()
            self.faults.clear()
            return json_response(200, {"ok": True})
        if route == ("GET", "/sendgrid/mails"):
            return json_response(200, {"mails": self.sendgrid.mails})
        if route == ("GET", "/sendgrid/suppressions"):
            return json_response(200, {"suppressions": self.sendgrid.suppressions})
        if route == ("POST", "/sendgrid/suppressions"):  # {"list", "email", "reason"?}
            body = request.json()
            if body["list"] not in self.sendgrid.suppressions:
                raise ValueError(f"unknown list {body['list']!r}")
            reason = str(body.get("reason", "added by a test"))
            self.sendgrid.suppress(body["list"], body["email"], reason, "", int(time.time()))
            return json_response(200, {"ok": True})
        if route == ("GET", "/sendgrid/public_key"):
            return json_response(200, {"public_key": self.sendgrid.public_key})
        if route == ("POST", "/sendgrid/events"):
            return await self._sendgrid_events(request.json())
        if route == ("GET", "/whatsapp/messages"):
            messages, inbound = self.whatsapp.messages, self.whatsapp.inbound
            return json_response(200, {"messages": messages, "inbound": inbound})
        if route == ("POST", "/whatsapp/inbound"):
            return await self._whatsapp_inbound(request.json())
        if route == ("POST", "/whatsapp/statuses"):
            body = request.json()
            notification = self.whatsapp.statuses(list(body["statuses"]), time.time())
            return await self._whatsapp_webhook(notification, body.get("post", True))
        if route == ("POST", "/faults"):
            return self._add_fault(request.json())
        if route == ("POST", "/webhooks"):
            body = request.json()
            for name in ("sendgrid_url", "whatsapp_url", "whatsapp_app_secret"):
                if name in body:
                    setattr(self.webhooks, name, body[name])
            return json_response(200, {"ok": True})
        if route == ("GET", "/webhooks/deliveries"):
            return json_response(200, {"deliveries": self.webhooks.deliveries})
        return json_response(404, {"error": f"Unknown control: {request.method} {request.path}"})

    def _add_fault(self, body: Obj) -> Response:
        api, status = body["api"], body.get("status")
        if api not in APIS:
            raise ValueError(f"api must be one of {APIS}")
        if status is not None and status not in _REASONS:
            raise ValueError(f"status must be one of {sorted(_REASONS)}")
        delay = float(body.get("delay", 0))
        if status is None and delay <= 0:
            raise ValueError("a fault needs a status or a delay")
        self.faults.append(Fault(api, int(body.get("times", 1)), status, delay))
        return json_response(200, {"ok": True})

    async def _sendgrid_events(self, body: Obj) -> Response:
        events = self.sendgrid.events(list(body["events"]), time.time())
        payload = json.dumps(events).encode() + b"\r\n"
        headers = self.sendgrid.sign(payload, int(body.get("signed_at", time.time())))
        delivery = None
        if body.get("post", True):
            delivery = await self._post("sendgrid", self.webhooks.sendgrid_url, payload, headers)
        return json_response(
            200,
            {"events": events, "body": payload.decode(), "headers": headers, "delivery": delivery},
        )

    async def _whatsapp_inbound(self, body: Obj) -> Response:
        timestamp = float(body.get("timestamp", time.time()))
        notification = self.whatsapp.record_inbound(
            str(body["from"]), str(body.get("text", "Hello")), timestamp, body.get("name")
        )
        post = body.get("post", True) and self.webhooks.whatsapp_url is not None
        return await self._whatsapp_webhook(notification, post)

    async def _whatsapp_webhook(self, notification: Obj, post: bool) -> Response:
        secret = self.webhooks.whatsapp_app_secret
        payload = json.dumps(notification, separators=(",", ":")).encode()
        if secret is None:
            if post:
                raise ValueError("no WhatsApp app secret configured to sign the webhook")
            headers: dict[str, str] = {"Content-Type": "application/json"}
        else:
            headers = sign(payload, secret)
        delivery = None
        if post:
            delivery = await self._post("whatsapp", self.webhooks.whatsapp_url, payload, headers)
        return json_response(
            200, {"notification": notification, "body": payload.decode(), "headers": headers,
                  "delivery": delivery},
        )  # fmt: skip

    async def _post(
        self, api: str, url: str | None, payload: bytes, headers: dict[str, str]
    ) -> Obj:
        record: Obj = {"api": api, "url": url, "at": time.time(), "status": None, "error": None}
        if url is None:
            record["error"] = f"no {api} webhook URL configured"
        else:
            assert self._client is not None
            try:
                response = await self._client.post(url, content=payload, headers=headers)
                record["status"] = response.status_code
                record["response"] = response.text[:2000]
            except httpx.HTTPError as error:
                record["error"] = f"{type(error).__name__}: {error}"
        self.webhooks.deliveries.append(record)
        return record

    # --- state ----------------------------------------------------------------------------

    def _load(self) -> Obj:
        if self.state_file is None or not self.state_file.exists():
            return {}
        state: Obj = json.loads(self.state_file.read_text())
        return state

    def _save(self, path: Path) -> None:
        """Write, then rename: a crash leaves the old state or the new one, never half."""
        state = {
            "signing_key": key_to_pem(self.sendgrid.key),
            "mails": self.sendgrid.mails,
            "suppressions": self.sendgrid.suppressions,
            "whatsapp_messages": self.whatsapp.messages,
            "whatsapp_inbound": self.whatsapp.inbound,
        }
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(state))
        os.replace(partial, path)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._client = httpx.AsyncClient(timeout=10)
                if self.state_file is not None and not self.state_file.exists():
                    self._save(self.state_file)  # the signing key is fixed from now on
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


_REASONS = {
    400: "Bad Request",
    429: "too many requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
