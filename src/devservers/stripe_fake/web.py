"""What the Stripe fake adds to the raw ASGI of `devservers.asgi`: pretty JSON, redirects."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from devservers import asgi
from devservers.asgi import Client, Receive, Request, Response, Scope, Send, read_request

__all__ = [
    "Client",
    "Receive",
    "Request",
    "Response",
    "Scope",
    "Send",
    "json_response",
    "read_request",
    "redirect",
]


def json_response(
    status: int, body: dict[str, Any], headers: list[tuple[str, str]] | None = None
) -> Response:
    return asgi.json_response(status, body, headers, indent=2)  # Stripe pretty-prints its JSON too


def redirect(url: str, **query: str) -> Response:
    """303 to `url`, with `query` added to the query it already has."""
    parts = urlsplit(url)
    merged = urlencode([*parse_qsl(parts.query), *query.items()])
    return Response(303, b"", [("location", urlunsplit(parts._replace(query=merged)))])
