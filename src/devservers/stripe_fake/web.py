"""The little HTTP the app needs on top of raw ASGI: a read request, a response to send."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from devservers.stripe_fake.errors import invalid

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Client = tuple[str, int] | None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    client: Client

    @property
    def base_url(self) -> str:
        """Where the client reached us, for the URLs we hand out (3DS, onboarding)."""
        return f"http://{self.headers.get('host', '127.0.0.1')}"

    def arg(self, name: str) -> str | None:
        return dict(parse_qsl(self.query)).get(name)

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError as error:
            raise invalid(f"Invalid JSON body: {error}") from error
        if not isinstance(data, dict):
            raise invalid("The JSON body must be an object.")
        return data


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
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
    status: int, body: dict[str, Any], headers: list[tuple[str, str]] | None = None
) -> Response:
    payload = json.dumps(body, indent=2).encode()  # Stripe pretty-prints its JSON too
    return Response(status, payload, [("content-type", "application/json"), *(headers or [])])


def redirect(url: str, **query: str) -> Response:
    """303 to `url`, with `query` added to the query it already has."""
    parts = urlsplit(url)
    merged = urlencode([*parse_qsl(parts.query), *query.items()])
    return Response(303, b"", [("location", urlunsplit(parts._replace(query=merged)))])
