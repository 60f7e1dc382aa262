"""What every request and response passes at the edge of the app, whatever the route.

Responses: the security headers Helmet sets by default, with the strictest frame and content
policy for a JSON API, a policy for the documentation page that runs its own scripts only,
and `Cache-Control: no-store` unless a handler chose otherwise (tokens, recovery codes and
personal data must never sit in a shared cache; public handlers opt in to caching).

Requests: bytes the core never sees or cannot refuse in time. PostgreSQL refuses NUL in text,
so NUL anywhere in a query parameter, a path parameter, a header or a JSON string is refused
here as a malformed request naming where it was; a body must be JSON (415 otherwise) and UTF-8.
Names with other control or bidirectional characters are the core's to refuse
(core.shared.text), as they are for the CLI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import HTTPException
from litestar.types import Message, Scope

from entrypoints.http.card_numbers import carries_card_number
from entrypoints.http.problems import CardDataRefused, MalformedRequest

DOCS_PREFIX = "/docs"
HSTS = "max-age=31536000; includeSubDomains"
# JSON is never a document: it may load nothing, be framed by no one, submit no form.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The docs page (/docs, entrypoints.http.docs) runs Swagger UI from this origin only: no CDN, no
# inline script or style, no eval (Swagger UI 5 sets styles through the DOM, which CSP allows;
# the Chromium test fails on any policy report). Nothing is framed, nothing is sent elsewhere.
DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "strict-transport-security": HSTS,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "origin-agent-cluster": "?1",
    "x-dns-prefetch-control": "off",
    "x-download-options": "noopen",
    "x-permitted-cross-domain-policies": "none",
    "x-xss-protection": "0",  # the old auditors did harm; CSP is the protection
}
# What a response gets unless its handler set the header itself, built once per kind of page.
_API_DEFAULTS = tuple(
    (SECURITY_HEADERS | {"content-security-policy": API_CSP, "cache-control": "no-store"}).items()
)
_DOCS_DEFAULTS = tuple(
    (SECURITY_HEADERS | {"content-security-policy": DOCS_CSP, "cache-control": "no-store"}).items()
)


async def add_security_headers(message: Message, scope: Scope) -> None:
    """Litestar's `before_send` hook: runs for every response, 404s and errors included."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    is_docs = str(scope.get("path", "")).startswith(DOCS_PREFIX)
    for name, value in _DOCS_DEFAULTS if is_docs else _API_DEFAULTS:
        if name not in headers:
            headers[name] = value


# ---------------------------------------------------------------- bytes of the request

# Bodies signed by a processor are verified by their signature, never judged by their look.
SIGNED_WEBHOOKS = "/webhooks/"
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_NUL = "\x00"


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def refuse_bad_bytes(request: Request[Any, Any, Any]) -> None:
    """Litestar's `before_request` hook: runs after routing, before parameters are parsed."""
    for name, value in request.query_params.multi_items():
        if _NUL in name or _NUL in value:
            raise MalformedRequest(field=name, message="must not contain NUL characters")
        if carries_card_number(value):
            raise CardDataRefused
    for name, value in request.path_params.items():
        if isinstance(value, str) and _NUL in value:
            raise MalformedRequest(field=name, message="must not contain NUL characters")
    for raw_name, raw_value in request.scope["headers"]:
        if b"\x00" in raw_value:
            name = raw_name.decode("latin-1")
            raise MalformedRequest(field=name, message="must not contain NUL characters")
    if request.method in _WITH_BODY:
        await _check_body(request)


async def _check_body(request: Request[Any, Any, Any]) -> None:
    body = await request.body()  # kept by Litestar: the handler reads the same bytes
    if not body:
        return
    media_type = request.content_type[0].lower()
    if not _is_json(media_type):
        raise HTTPException(
            status_code=415,
            detail=f"the body must be application/json, not {media_type or 'untyped'}",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedRequest(
            field="body", message=f"is not valid UTF-8 (byte {error.start})"
        ) from None
    if carries_card_number(text) and not request.url.path.startswith(SIGNED_WEBHOOKS):
        raise CardDataRefused
    if "\\u0000" not in text:  # the only way JSON can carry a NUL inside a string
        return
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return  # not JSON: the handler's decoding says so, as for any other bad body
    field = next(_nul_paths(document, ""), None)
    if field is not None:
        raise MalformedRequest(field=field or "body", message="must not contain NUL characters")


def _nul_paths(value: object, path: str) -> Iterator[str]:
    """Where NUL occurs in a decoded JSON document, as `a.b[0].c` (keys count as places)."""
    if isinstance(value, str):
        if _NUL in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if _NUL in str(key):
                yield here
            yield from _nul_paths(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, f"{path}[{index}]")
