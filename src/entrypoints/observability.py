"""What the API and the worker share for observability (docs/adr/0033): binding the request id
of the work in hand, and error reports to Sentry with personal data scrubbed before they leave.

The request id is bound in three places at once: `core.shared.request_id` (the PostGIS unit of
work copies it into the transaction, so outbox rows and jobs carry it), structlog's context
variables (every log line of the request has `request_id`), and every Sentry event (a tag, read
when the event is built).

Sentry gets no personal data: `send_default_pii` stays off (its default), no request bodies,
no local variables of stack frames, and `scrub_event` runs last on every event: it drops
cookies, the Authorization header and anything like a credential, the client's address and
user details beyond the id, and redacts email addresses, phone numbers, IP addresses, bearer
tokens, JWTs and provider keys from every string left (exception messages, breadcrumbs, URLs).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import sentry_sdk
import structlog
from sentry_sdk.integrations.litestar import LitestarIntegration
from sentry_sdk.integrations.logging import ignore_logger

from core.shared.redaction import redact_personal
from core.shared.request_id import bind_request_id, current_request_id, unbind_request_id
from entrypoints.http.logging import redacted
from entrypoints.http.problems import CardDataRefused, DomainProblem, MalformedRequest

REQUEST_ID_TAG = "request_id"
PROBLEMS_LOGGER = "entrypoints.http.problems"
REDACTED = "[redacted]"

# Credentials as they appear in free text: a bearer token, a JWT (three base64url parts, the
# first a JSON header), Stripe secret/restricted keys and webhook secrets, SendGrid keys.
_CREDENTIALS = re.compile(
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]+"
    r"|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
    r"|\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]+"
    r"|\bwhsec_[A-Za-z0-9]+"
    r"|\bSG\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"
)
# Header names (lower case) whose values are credentials or say where the client is.
_SECRET_HEADER = re.compile(
    r"authorization|cookie|set-cookie|x-forwarded-for|x-real-ip|forwarded|true-client-ip"
    r"|cf-connecting-ip|.*(token|secret|signature|api-key|apikey|password).*"
)
# Exceptions that answer a client's mistake (4xx problems), not a fault of ours.
_CLIENT_ERRORS = (DomainProblem, MalformedRequest, CardDataRefused)


# ---------------------------------------------------------------- the request id


@contextlib.contextmanager
def request_bound(request_id: str | None) -> Iterator[None]:
    """Within the block, `request_id` is the current one for the core, structlog and Sentry."""
    token = bind_request_id(request_id)
    logged = structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**logged)
        unbind_request_id(token)


# ---------------------------------------------------------------- Sentry


def redact_text(text: str) -> str:
    """Personal data and credentials in free text replaced; a calendar or export token in a
    path too."""
    return redacted(redact_personal(_CREDENTIALS.sub(REDACTED, text)))


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


def _scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    """The request as Sentry may keep it: method, URL, query and headers minus credentials;
    no body, no cookies, no client address."""
    kept: dict[str, Any] = {
        key: request[key] for key in ("method", "url", "query_string") if key in request
    }
    headers = request.get("headers") or {}
    kept["headers"] = {
        name: value
        for name, value in headers.items()
        if not _SECRET_HEADER.fullmatch(str(name).lower())
    }
    return kept


def _drop_frame_variables(event: dict[str, Any]) -> None:
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values") or []:
        for frame in (thread.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)


def scrub_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    """Sentry's `before_send`: None (not sent) for a client's mistake; otherwise the event
    with personal data and credentials removed, tagged with the current request id."""
    exc_info = hint.get("exc_info")
    if exc_info and isinstance(exc_info[1], _CLIENT_ERRORS):
        return None
    if isinstance(event.get("request"), dict):
        event["request"] = _scrub_request(event["request"])
    user = event.get("user")
    event["user"] = {"id": user["id"]} if isinstance(user, dict) and "id" in user else {}
    _drop_frame_variables(event)
    request_id = current_request_id()
    tags = event.get("tags")
    tags = dict(tags) if isinstance(tags, Mapping) else {}
    if request_id is not None:
        tags[REQUEST_ID_TAG] = request_id
    event["tags"] = tags
    scrubbed: dict[str, Any] = _scrub(event)
    return scrubbed


def init_sentry(dsn: str | None, *, environment: str, release: str | None = None) -> bool:
    """Report errors to Sentry at `dsn` (none: nothing is reported); whether it is on.
    Call before the Litestar app is built: the integration hooks into its construction."""
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        integrations=[LitestarIntegration()],
        auto_enabling_integrations=False,  # no SQL/Redis/httpx spans: we trace nothing
        # send_default_pii stays at its default, off (no user details, IPs, cookies, bodies)
        include_local_variables=False,  # a frame's variables hold tokens and addresses
        max_request_body_size="never",
        traces_sample_rate=None,
        before_send=scrub_event,  # type: ignore[arg-type]
        before_breadcrumb=_scrub_breadcrumb,
    )
    # The HTTP error handler logs what the integration already reported from the exception:
    # as a log event it would come twice.
    ignore_logger(PROBLEMS_LOGGER)
    return True


def _scrub_breadcrumb(crumb: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    scrubbed: dict[str, Any] = _scrub(crumb)
    return scrubbed


def close_sentry() -> None:
    """Flush what is queued and stop reporting (tests; a process about to exit)."""
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)  # the integration's hooks go inert
