"""A local stand-in for Google Analytics 4's Measurement Protocol, as a child process.

`python -m devservers.ga4_fake --port P --measurement-id G-... --api-secret S`, or
`LocalGa4(port).start()`; its `control` lists the events it kept and injects outages.

- `POST /mp/collect?measurement_id=...&api_secret=...` answers 204 with no body, as Google does,
  whatever the payload: malformed events, a wrong secret or an unknown measurement id are
  silently dropped (they are listed with their reasons under /_test/requests, never kept as
  events). Valid events are kept, with their client id, for tests (/_test/events).
- `POST /debug/mp/collect?...` answers 200 {"validationMessages": [...]} with Google's field
  paths, descriptions and validation codes (missing client_id, events that are not a list,
  more than 25 events or 25 params, bad or reserved names, too long values), and keeps nothing.
  Unlike Google's validation server, which does not check api_secret, this one also reports a
  wrong measurement id or api secret: a wiring mistake shows up in development.
- `/_test/...`: health, events, requests, reset, faults (the next sends answer a 5xx or 429).

Stands alone: it imports nothing of the service (only the devservers' helpers).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from devservers.child_process import ChildFake, ChildServer, Control, child_parser, child_uvicorn

_log = logging.getLogger(__name__)
Obj = dict[str, Any]

MEASUREMENT_ID = "G-RESERVA0001"  # the local property's
API_SECRET = "reserva-local-ga4-secret"  # noqa: S105 - a fake's, plainly not real

MAX_EVENTS = 25
MAX_PARAMS = 25
MAX_USER_PROPERTIES = 25
MAX_NAME = 40
MAX_VALUE = 100
_NAME_CHARS = re.compile(r"[A-Za-z0-9_]*")
# Google's reserved event names (web and app streams) and prefixes.
RESERVED_EVENTS = frozenset(
    {
        "ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure",
        "app_background", "app_clear_data", "app_exception", "app_install", "app_remove",
        "app_store_refund", "app_store_subscription_cancel", "app_store_subscription_convert",
        "app_store_subscription_renew", "app_update", "app_upgrade", "dynamic_link_app_open",
        "dynamic_link_app_update", "dynamic_link_first_open", "error", "first_open",
        "first_visit", "in_app_purchase", "notification_dismiss", "notification_foreground",
        "notification_open", "notification_receive", "os_update", "session_start",
        "session_start_with_rollout", "user_engagement",
    }
)  # fmt: skip
RESERVED_PREFIXES = ("_", "google_", "ga_", "firebase_")


def _message(path: str, description: str, code: str) -> Obj:
    return {"fieldPath": path, "description": description, "validationCode": code}


def _name_problem(kind: str, index: str, name: object) -> Obj | None:
    """The message for a bad event or parameter name, None if it is fine."""
    path = "events" if kind == "Event" else "events.params"
    if not isinstance(name, str) or not name:
        return _message(path, f"{kind} at index: [{index}] has no name.", "VALUE_REQUIRED")
    if len(name) > MAX_NAME:
        return _message(
            path,
            f"{kind} at index: [{index}] has name [{name}] which exceeds max length of {MAX_NAME}.",
            "VALUE_OUT_OF_BOUNDS",
        )
    if name.startswith(RESERVED_PREFIXES) or (kind == "Event" and name in RESERVED_EVENTS):
        return _message(
            path, f"{kind} at index: [{index}] has name [{name}] which is reserved.",
            "NAME_RESERVED",
        )  # fmt: skip
    if not name[0].isascii() or not name[0].isalpha():
        return _message(
            path,
            f"{kind} at index: [{index}] has invalid name [{name}]. Names must start with an "
            "alphabetic character.",
            "NAME_INVALID",
        )
    if not _NAME_CHARS.fullmatch(name):
        return _message(
            path,
            f"{kind} at index: [{index}] has invalid name [{name}]. Only alphanumeric "
            "characters and underscores are allowed.",
            "NAME_INVALID",
        )
    return None


def validate_event(index: int, event: object) -> list[Obj]:
    if not isinstance(event, dict):
        return [_message("events", f"Event at index: [{index}] is not an object.", "VALUE_INVALID")]
    messages = [m for m in [_name_problem("Event", str(index), event.get("name"))] if m]
    params = event.get("params", {})
    if not isinstance(params, dict):
        messages.append(
            _message("events.params", f"Event at index: [{index}] has params that are not an "
                     "object.", "VALUE_INVALID")
        )  # fmt: skip
        return messages
    if len(params) > MAX_PARAMS:
        messages.append(
            _message(
                "events.params",
                f"Event at index: [{index}] has {len(params)} params; a maximum of "
                f"{MAX_PARAMS} is allowed.",
                "EXCEEDED_MAX_ENTITIES",
            )
        )
    for name, value in params.items():
        where = f"{index}].params[{name}"
        if (problem := _name_problem("Param", where, name)) is not None:
            messages.append(problem)
        if isinstance(value, str) and len(value) > MAX_VALUE:
            messages.append(
                _message(
                    "events.params",
                    f"Param at index: [{where}] has a value longer than {MAX_VALUE}.",
                    "VALUE_OUT_OF_BOUNDS",
                )
            )
        elif not isinstance(value, str | int | float | list | dict) or isinstance(value, bool):
            messages.append(
                _message("events.params", f"Param at index: [{where}] has an invalid value.",
                         "VALUE_INVALID")
            )  # fmt: skip
    return messages


def validate(body: Obj) -> list[Obj]:
    """Google's validation of a Measurement Protocol body (the documented rules)."""
    messages: list[Obj] = []
    client_id = body.get("client_id")
    if body.get("app_instance_id") is None and not (isinstance(client_id, str) and client_id):
        required = "Measurement requires a client_id."
        messages.append(_message("client_id", required, "VALUE_REQUIRED"))
    events = body.get("events")
    if events is None:
        messages.append(_message("events", "Measurement requires events.", "VALUE_REQUIRED"))
        return messages
    if not isinstance(events, list):
        messages.append(_message("events", "events must be a list.", "VALUE_INVALID"))
        return messages
    if not events:
        messages.append(_message("events", "Measurement requires events.", "VALUE_REQUIRED"))
    if len(events) > MAX_EVENTS:
        messages.append(
            _message(
                "events",
                f"A maximum of {MAX_EVENTS} events can be specified per request.",
                "EXCEEDED_MAX_ENTITIES",
            )
        )
    for index, event in enumerate(events):
        messages.extend(validate_event(index, event))
    properties = body.get("user_properties") or {}
    if isinstance(properties, dict) and len(properties) > MAX_USER_PROPERTIES:
        messages.append(
            _message(
                "user_properties",
                f"A maximum of {MAX_USER_PROPERTIES} user properties can be specified.",
                "EXCEEDED_MAX_ENTITIES",
            )
        )
    return messages


@dataclass
class Fault:
    status: int
    times: int


@dataclass
class Ga4Fake:
    measurement_id: str = MEASUREMENT_ID
    api_secret: str = API_SECRET
    events: list[Obj] = field(default_factory=list)  # kept events, with their client id
    requests: list[Obj] = field(default_factory=list)  # every /mp/collect, with its verdict
    faults: list[Fault] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        try:
            response = self._serve(request)
        except Exception as bug:  # a bug in the fake: a 500, loudly logged
            _log.exception("%s %s failed", request.method, request.path)
            response = json_response(500, {"error": f"ga4 fake bug: {bug!r}"})
        await send_response(send, response)

    def _serve(self, request: Request) -> Response:
        if request.path.startswith("/_test/"):
            try:
                return self._control(request)
            except (BadJson, ValueError, KeyError, TypeError) as bad:
                return json_response(400, {"error": f"{type(bad).__name__}: {bad}"})
        if request.path in ("/mp/collect", "/debug/mp/collect"):
            if request.method != "POST":
                return Response(405, b"", [("allow", "POST")])
            if self.faults:
                fault = self.faults[0]
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.pop(0)
                return json_response(fault.status, {"error": "injected by the fake"})
            messages, body = self._check(request)
            if request.path == "/debug/mp/collect":
                return json_response(200, {"validationMessages": messages})
            self._collect(request, body, messages)
            return Response(204)
        return json_response(404, {"error": f"Unknown URL: {request.method} {request.path}"})

    def _check(self, request: Request) -> tuple[list[Obj], Obj]:
        messages: list[Obj] = []
        measurement_id = request.arg("measurement_id")
        if not measurement_id:
            messages.append(
                _message("measurement_id", "Unable to find non-empty parameter "
                         "[measurement_id] value in request.", "VALUE_REQUIRED")
            )  # fmt: skip
        elif measurement_id != self.measurement_id:
            messages.append(
                _message("measurement_id", f"measurement_id [{measurement_id}] is not a known "
                         "web stream of this property.", "VALUE_INVALID")
            )  # fmt: skip
        secret = request.arg("api_secret")
        if not secret:
            messages.append(
                _message("api_secret", "Unable to find non-empty parameter [api_secret] value "
                         "in request.", "VALUE_REQUIRED")
            )  # fmt: skip
        elif secret != self.api_secret:
            messages.append(
                _message("api_secret", "api_secret is not a secret of this web stream.",
                         "VALUE_INVALID")
            )  # fmt: skip
        try:
            body = json.loads(request.body)
        except ValueError:
            messages.append(
                _message("", "Unable to parse Measurement Protocol JSON payload.", "VALUE_INVALID")
            )
            return messages, {}
        if not isinstance(body, dict):
            messages.append(_message("", "The payload must be a JSON object.", "VALUE_INVALID"))
            return messages, {}
        return messages + validate(body), body

    def _collect(self, request: Request, body: Obj, messages: list[Obj]) -> None:
        """What Google would keep: nothing without the right credentials and a client id;
        else each valid event (the invalid ones are dropped one by one)."""
        self.requests.append(
            {
                "at": time.time(),
                "path": request.path,
                "measurement_id": request.arg("measurement_id"),
                "body": body,
                "validationMessages": messages,
            }
        )
        fatal = {"measurement_id", "api_secret", "client_id", ""}
        if any(m["fieldPath"] in fatal for m in messages):
            return
        events = body.get("events")
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
            return  # no events, or more than a request may carry: the request is dropped
        for index, event in enumerate(events):
            if validate_event(index, event):
                continue
            self.events.append(
                {
                    "client_id": body["client_id"],
                    "timestamp_micros": body.get("timestamp_micros"),
                    "name": event["name"],
                    "params": event.get("params", {}),
                }
            )

    def _control(self, request: Request) -> Response:
        route = (request.method, request.path.removeprefix("/_test"))
        if route == ("GET", "/health"):
            return json_response(200, {"ok": True})
        if route == ("GET", "/events"):
            return json_response(200, {"events": self.events})
        if route == ("GET", "/requests"):
            return json_response(200, {"requests": self.requests})
        if route == ("POST", "/reset"):
            self.events.clear()
            self.requests.clear()
            self.faults.clear()
            return json_response(200, {"ok": True})
        if route == ("POST", "/faults"):
            body = request.json()
            status, times = int(body["status"]), int(body.get("times", 1))
            if status not in (429, 500, 502, 503) or times < 1:
                raise ValueError("a fault is a status of 429, 500, 502 or 503, times >= 1")
            self.faults.append(Fault(status, times))
            return json_response(200, {"ok": True})
        return json_response(404, {"error": f"Unknown control: {request.method} {request.path}"})


# --- run as a child process, driven from tests and `reserva serve` ---------------------------


class Ga4ControlError(RuntimeError):
    """A control call failed; the message says why."""


class Ga4Control(Control):
    """Thin calls to the fake's test-only endpoints (no authentication)."""

    error = Ga4ControlError

    def health(self) -> bool:
        return bool(self._call("GET", "/_test/health")["ok"])

    def events(self) -> list[Obj]:
        """Every event kept: {"client_id", "timestamp_micros", "name", "params"}, oldest first."""
        found: list[Obj] = self._call("GET", "/_test/events")["events"]
        return found

    def requests(self) -> list[Obj]:
        """Every /mp/collect request: {"at", "measurement_id", "body", "validationMessages"}."""
        found: list[Obj] = self._call("GET", "/_test/requests")["requests"]
        return found

    def reset(self) -> None:
        self._call("POST", "/_test/reset")

    def fail_next(self, status: int, times: int = 1) -> None:
        """The next `times` requests answer `status` (429, 500, 502, 503): an outage."""
        self._call("POST", "/_test/faults", json={"status": status, "times": times})


class LocalGa4(ChildFake[Ga4Control]):
    """The fake on 127.0.0.1:`port`, accepting `measurement_id` with `api_secret`; point the
    client's endpoint at `base_url`. The child process exits with its parent."""

    def __init__(
        self,
        port: int,
        *,
        measurement_id: str = MEASUREMENT_ID,
        api_secret: str = API_SECRET,
        log_file: Path | None = None,
    ) -> None:
        self.measurement_id, self.api_secret = measurement_id, api_secret
        arguments = ["--measurement-id", measurement_id, "--api-secret", api_secret]
        super().__init__(
            ChildServer("devservers.ga4_fake", port, arguments, log_file=log_file), Ga4Control
        )


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    app = Ga4Fake(measurement_id=args.measurement_id, api_secret=args.api_secret)
    child_uvicorn(app, args, lifespan="off").run()


def _parser() -> argparse.ArgumentParser:
    parser = child_parser("python -m devservers.ga4_fake", __doc__)
    parser.add_argument("--measurement-id", default=MEASUREMENT_ID)
    parser.add_argument("--api-secret", default=API_SECRET)
    return parser


if __name__ == "__main__":
    main()
