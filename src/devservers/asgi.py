"""The little HTTP the fakes need on top of raw ASGI: a read request, a response to send."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Client = tuple[str, int] | None


class BadJson(ValueError):
    """The body is not the JSON object the endpoint wants."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    client: Client = None

    @property
    def base_url(self) -> str:
        """Where the client reached us, for the URLs we hand out."""
        return f"http://{self.headers.get('host', '127.0.0.1')}"

    def args(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def arg(self, name: str) -> str | None:
        return dict(parse_qsl(self.query)).get(name)

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError as error:
            raise BadJson(f"Invalid JSON body: {error}") from error
        if not isinstance(data, dict):
            raise BadJson("The JSON body must be an object.")
        return data

    def bearer(self) -> str | None:
        scheme, _, credentials = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
        return None


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


async def read_request(scope: Scope, receive: Receive) -> Request:
    body, more = b"", True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    client = scope.get("client")
    return Request(
        scope["method"],
        scope["path"],
        scope["query_string"].decode("latin-1"),
        headers,
        body,
        (client[0], client[1]) if client else None,
    )


def json_response(
    status: int,
    body: Any,
    headers: list[tuple[str, str]] | None = None,
    *,
    indent: int | None = None,
) -> Response:
    payload = json.dumps(body, indent=indent).encode()
    return Response(status, payload, [("content-type", "application/json"), *(headers or [])])


async def send_response(send: Send, response: Response) -> None:
    headers = [(k.encode(), v.encode()) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
