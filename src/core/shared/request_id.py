"""Which request (or job) the running code works for: one id, carried from the HTTP edge into
logs, outbox events, jobs and error reports (docs/adr/0033).

A context variable, so concurrent requests on one event loop each see their own; the HTTP
edge and the worker set it, the PostGIS unit of work copies it into the transaction (outbox
rows and jobs written there carry it), nothing in the domain reads it.
"""

from __future__ import annotations

import contextvars
import re
import uuid

# What an id from a trusted proxy may look like: UUIDs, W3C trace ids, AWS/Heroku/nginx ids
# fit; anything else (spaces, quotes, a 4 KiB header) is replaced by one of ours rather than
# written into every log line and row.
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:@=+/-]{8,128}")

_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "reserva_request_id", default=None
)


def new_request_id() -> str:
    return uuid.uuid4().hex


def acceptable_request_id(value: str | None) -> bool:
    return value is not None and _ACCEPTABLE.fullmatch(value) is not None


def current_request_id() -> str | None:
    """The id of the request or job this code runs for; None outside any (a CLI command)."""
    return _CURRENT.get()


def bind_request_id(value: str | None) -> contextvars.Token[str | None]:
    """Make `value` the current id; `unbind_request_id(token)` restores the previous one."""
    return _CURRENT.set(value)


def unbind_request_id(token: contextvars.Token[str | None]) -> None:
    _CURRENT.reset(token)
