"""RFC 9457 problem details: the one place where failures become HTTP responses.

Domain errors arrive as `DomainProblem` (raised by `ok()` after a use case returned a Failure),
framework errors as Litestar exceptions, infrastructure failures as anything else. All of them
leave as `application/problem+json`. What a domain error looks like (status, type, title,
headers) is each context's own table; this module only merges the tables and renders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, TypeVar

import msgspec
import stripe
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import ParameterKwarg
from litestar.types import ExceptionHandlersMap
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from returns.result import Failure, Result
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from core import bookings, consent, identity, integrations, media, messaging, payments
from core.identity import step_up_hint
from core.shared import problems as shared
from core.shared.errors import DomainError, InvalidInput
from core.shared.problems import INVALID_INPUT, UNAUTHENTICATED, ProblemKind, kind_of, merged
from entrypoints.settings import NotConfigured

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:reserva:problem:"

_log = structlog.get_logger(__name__)

T = TypeVar("T")


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] | None = None


def problem(
    kind: ProblemKind, detail: str, instance: str, errors: list[FieldError] | None = None
) -> Problem:
    return Problem(
        type=TYPE_PREFIX + kind.slug,
        title=kind.title,
        status=kind.status,
        detail=detail,
        instance=instance,
        errors=errors,
    )


# Failures of the transport or of what we depend on, which no context returns.
MALFORMED = ProblemKind(status=400, slug="malformed-request", title="Malformed request")
UNAVAILABLE = ProblemKind(status=503, slug="service-unavailable", title="Service unavailable")
INTERNAL = ProblemKind(status=500, slug="internal-error", title="Internal server error")

# Every context's table. A new context adds its `PROBLEMS` here, and names none of its errors.
PROBLEMS = merged(
    [
        shared.PROBLEMS,
        bookings.PROBLEMS,
        identity.PROBLEMS,
        payments.PROBLEMS,
        messaging.PROBLEMS,
        media.PROBLEMS,
        integrations.PROBLEMS,
        consent.RIGHTS_PROBLEMS,
        consent.PROBLEMS,
    ]
)


def _kind(error: DomainError) -> ProblemKind:
    kind = kind_of(error, PROBLEMS)
    if kind is not None:
        return kind
    # A context added an error and forgot its table: still a clear client-facing answer.
    _log.warning("unmapped domain error", error=type(error).__name__)
    return ProblemKind(status=422, slug="unprocessable", title=error.title)


def render(error: DomainError, instance: str, caller: object) -> Response[bytes]:
    """THE rendering of a domain error, whether it is answered now or stored for replay.

    `caller` is who asked (the request's user, if any): a Forbidden to a caller whose token
    withholds a role becomes MfaRequired, because a second factor may change the answer.
    """
    error = step_up_hint(caller, error)
    kind = _kind(error)
    errors = (
        [FieldError(field=error.field, message=error.reason)]
        if isinstance(error, InvalidInput)
        else None
    )
    return response(problem(kind, error.detail, instance, errors), kind.headers_for(error))


class MalformedRequest(Exception):
    """Bytes no handler should see (NUL, invalid UTF-8): 400, naming where they were."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class CardDataRefused(Exception):
    """The request carries something shaped like a card number: 400, never echoed or logged."""


class DomainProblem(Exception):
    """Carries a use case's Failure from the handler to the problem renderer."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.detail)
        self.error = error


def ok(result: Result[T, DomainError]) -> T:
    """The handler's one look at a Result: the value, or the failure rendered as a problem."""
    match result:
        case Failure(error):
            raise DomainProblem(error)
        case _:
            return result.unwrap()


def documented(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problems a handler may answer."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=HTTPStatus(status).phrase,
            media_type=MEDIA_TYPE,
            generate_examples=False,
        )
        for status in statuses
    }


PUBLIC_PROBLEMS = documented(400, 404, 422, 503)
SIGNED_IN_PROBLEMS = documented(400, 401, 403, 404, 409, 422, 503)


def encode(problem: Problem) -> bytes:
    return msgspec.json.encode(problem)


def response(problem: Problem, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=encode(problem),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=dict(headers or {}),
    )


# ---------------------------------------------------------------- exception handlers

_NAMED_FIELD = re.compile(r"field `([^`]+)`")


def _field(request: Request[Any, Any, Any], key: str, message: str, source: str) -> str:
    """Name the field as the client wrote it: wire aliases, nested paths, missing fields."""
    aliases = _aliases(request)
    field = aliases.get(key, key)
    if source == "body" and key == "data":
        field = ""
    named = _NAMED_FIELD.search(message)
    if named and ("missing" in message or "unknown" in message):
        field = f"{field}.{named.group(1)}" if field else named.group(1)
    return field or "body"


def _aliases(request: Request[Any, Any, Any]) -> dict[str, str]:
    handler = request.scope.get("route_handler")
    if handler is None:
        return {}
    return {
        name: parameter.kwarg_definition.name
        for name, parameter in handler.parsed_fn_signature.parameters.items()
        if isinstance(parameter.kwarg_definition, ParameterKwarg)
        and parameter.kwarg_definition.name
    }


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = [
        FieldError(
            field=_field(
                request,
                str(item.get("key", "")),
                str(item.get("message", "")),
                str(item.get("source", "")),
            ),
            message=str(item.get("message", "")),
        )
        for item in extra
        if isinstance(item, dict)
    ]
    if not errors:  # a missing parameter, or a body that is not JSON at all
        return _bad_request(request, exc)
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return response(problem(INVALID_INPUT, detail, request.url.path, errors))


_MISSING_PARAMETER = re.compile(r"Missing required \w+ parameter '([^']+)'")


def _bad_request(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Litestar's own 400s: a missing parameter is invalid input; the rest is a bad body."""
    detail = str(exc.detail)
    missing = _MISSING_PARAMETER.search(detail)
    if missing:
        message = "this parameter is required"
        error = FieldError(field=missing.group(1), message=message)
        return response(problem(INVALID_INPUT, detail, request.url.path, [error]))
    error = FieldError(field="body", message=detail)
    return response(problem(MALFORMED, detail, request.url.path, [error]), exc.headers)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status == HTTPStatus.BAD_REQUEST:
        return _bad_request(request, exc)
    phrase = HTTPStatus(status).phrase
    kind = ProblemKind(status=status, slug=phrase.lower().replace(" ", "-"), title=phrase)
    if status == HTTPStatus.UNAUTHORIZED:
        kind = UNAUTHENTICATED
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        _log.error("server error", path=request.url.path, status=status, exc_info=exc)
    return response(problem(kind, str(exc.detail), request.url.path), exc.headers)


def _malformed(request: Request[Any, Any, Any], exc: MalformedRequest) -> Response[bytes]:
    error = FieldError(field=exc.field, message=exc.message)
    return response(problem(MALFORMED, str(exc), request.url.path, [error]))


CARD_DATA = ProblemKind(status=400, slug="card-data-refused", title="Card data refused")


def _card_data(request: Request[Any, Any, Any], exc: CardDataRefused) -> Response[bytes]:
    detail = (
        "the request carries what looks like a card number; card details go to the payment "
        "processor from the browser (Stripe Elements), never to this API"
    )
    return response(problem(CARD_DATA, detail, request.url.path))


def _domain(request: Request[Any, Any, Any], exc: DomainProblem) -> Response[bytes]:
    return render(exc.error, request.url.path, request.scope.get("user"))


# Failures of what we depend on, not of the request: the client may retry later.
INFRASTRUCTURE = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    RedisConnectionError,
    RedisTimeoutError,
    # The card processor unreachable, failing or throttling us; no card data is in these.
    stripe.APIConnectionError,
    stripe.APIError,
    stripe.RateLimitError,
    ConnectionError,
    TimeoutError,
)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    path = request.url.path
    if isinstance(exc, NotConfigured):
        _log.error("provider not configured", path=path, exc_info=exc)
        return response(problem(UNAVAILABLE, f"not available here: {exc}", path))
    if isinstance(exc, INFRASTRUCTURE):
        _log.error("dependency unavailable", path=path, exc_info=exc)
        detail = "a service we depend on is unavailable; retry shortly"
        return response(problem(UNAVAILABLE, detail, path), {"Retry-After": "5"})
    _log.error("unhandled error", path=path, exc_info=exc)
    return response(problem(INTERNAL, "an unexpected error occurred; it has been logged", path))


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainProblem: _domain,
    MalformedRequest: _malformed,
    CardDataRefused: _card_data,
    ValidationException: _validation,
    HTTPException: _http,
    Exception: _unexpected,
}
