"""RFC 9457 problem details: the one place where failures become HTTP statuses.

Domain errors arrive as `DomainProblem` (raised by `ok()` after a use case returned a Failure),
framework errors as Litestar exceptions, infrastructure failures as anything else. All of them
leave as `application/problem+json`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, TypeVar

import attrs
import msgspec
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

from core.bookings.model import (
    HoldExpired,
    InvalidTransition,
    OutsideBookingWindow,
    SessionFull,
    SlotUnavailable,
)
from core.identity.errors import (
    AccountLocked,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidRefreshToken,
    InvalidToken,
    MfaAlreadyActive,
    MfaEnrolmentNotStarted,
    MfaNotActive,
    RefreshTokenReused,
    TooManyAttempts,
)
from core.identity.password_policy import PasswordRejected
from core.identity.use_cases import step_up_hint
from core.shared.errors import DomainError, Forbidden, InvalidInput, NotFound
from core.shared.idempotency import IdempotencyKeyReused, RequestInFlight
from core.shared.principal import MfaRequired

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


@attrs.frozen(kw_only=True)
class Kind:
    """What a class of failure looks like on the wire."""

    status: int
    slug: str
    title: str

    def problem(
        self, detail: str, instance: str, errors: list[FieldError] | None = None
    ) -> Problem:
        return Problem(
            type=TYPE_PREFIX + self.slug,
            title=self.title,
            status=self.status,
            detail=detail,
            instance=instance,
            errors=errors,
        )


INVALID_INPUT = Kind(status=422, slug="invalid-input", title="Invalid input")
MALFORMED = Kind(status=400, slug="malformed-request", title="Malformed request")
UNAUTHENTICATED = Kind(status=401, slug="unauthenticated", title="Authentication required")
UNAVAILABLE = Kind(status=503, slug="service-unavailable", title="Service unavailable")
INTERNAL = Kind(status=500, slug="internal-error", title="Internal server error")
TOO_MANY_REQUESTS = Kind(status=429, slug="too-many-requests", title="Too many requests")


def retry_after(seconds: float) -> dict[str, str]:
    """The Retry-After header: whole seconds, rounded up, at least one."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def kind_of(error: DomainError) -> Kind:
    """THE mapping of domain errors to HTTP; every context's errors are added here."""
    match error:
        case InvalidInput():
            return INVALID_INPUT
        case NotFound():
            return Kind(status=404, slug="not-found", title="Not found")
        case MfaRequired():
            return Kind(
                status=403, slug="mfa-required", title="Multi-factor authentication required"
            )
        case Forbidden():
            return Kind(status=403, slug="forbidden", title="Forbidden")
        case SlotUnavailable():
            return Kind(status=409, slug="slot-unavailable", title="Slot unavailable")
        case SessionFull():
            return Kind(status=409, slug="session-full", title="Session full")
        case HoldExpired():
            return Kind(status=409, slug="hold-expired", title="Hold expired")
        case InvalidTransition():
            return Kind(status=409, slug="invalid-transition", title="Invalid booking transition")
        case OutsideBookingWindow():
            return Kind(status=422, slug="outside-booking-window", title="Outside booking window")
        case IdempotencyKeyReused():
            return Kind(status=422, slug="idempotency-key-reused", title="Idempotency key reused")
        case RequestInFlight():
            return Kind(status=409, slug="request-in-flight", title="Request in flight")
        # identity: none of these says whether an email address has an account
        case InvalidCredentials():
            return Kind(status=401, slug="invalid-credentials", title="Invalid credentials")
        case InvalidAccessToken():
            return UNAUTHENTICATED
        case InvalidRefreshToken():
            return Kind(status=401, slug="invalid-refresh-token", title="Invalid refresh token")
        case RefreshTokenReused():
            return Kind(status=401, slug="refresh-token-reused", title="Refresh token reused")
        case AccountLocked():
            return Kind(status=403, slug="account-locked", title="Account locked")
        case TooManyAttempts():
            return TOO_MANY_REQUESTS
        case InvalidToken():
            return Kind(status=400, slug="invalid-token", title="Invalid or expired token")
        case InvalidMfaCode():
            return Kind(status=400, slug="invalid-mfa-code", title="Invalid MFA code")
        case PasswordRejected():
            return Kind(status=422, slug="password-rejected", title="Password rejected")
        case MfaNotActive():
            return Kind(status=409, slug="mfa-not-active", title="MFA not active")
        case MfaAlreadyActive():
            return Kind(status=409, slug="mfa-already-active", title="MFA already active")
        case MfaEnrolmentNotStarted():
            return Kind(
                status=409, slug="mfa-enrolment-not-started", title="MFA enrolment not started"
            )
    # A context added an error and forgot this table: still a clear client-facing answer.
    _log.warning("unmapped domain error", error=type(error).__name__)
    return Kind(status=422, slug="unprocessable", title=error.title)


def domain_problem(error: DomainError, instance: str) -> Problem:
    errors = (
        [FieldError(field=error.field, message=error.reason)]
        if isinstance(error, InvalidInput)
        else None
    )
    return kind_of(error).problem(error.detail, instance, errors)


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
    return response(INVALID_INPUT.problem(detail, request.url.path, errors))


_MISSING_PARAMETER = re.compile(r"Missing required \w+ parameter '([^']+)'")


def _bad_request(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Litestar's own 400s: a missing parameter is invalid input; the rest is a bad body."""
    detail = str(exc.detail)
    missing = _MISSING_PARAMETER.search(detail)
    if missing:
        message = "this parameter is required"
        error = FieldError(field=missing.group(1), message=message)
        return response(INVALID_INPUT.problem(detail, request.url.path, [error]))
    error = FieldError(field="body", message=detail)
    return response(MALFORMED.problem(detail, request.url.path, [error]), exc.headers)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status == HTTPStatus.BAD_REQUEST:
        return _bad_request(request, exc)
    phrase = HTTPStatus(status).phrase
    kind = Kind(status=status, slug=phrase.lower().replace(" ", "-"), title=phrase)
    if status == HTTPStatus.UNAUTHORIZED:
        kind = UNAUTHENTICATED
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        _log.error("server error", path=request.url.path, status=status, exc_info=exc)
    return response(kind.problem(str(exc.detail), request.url.path), exc.headers)


def _domain(request: Request[Any, Any, Any], exc: DomainProblem) -> Response[bytes]:
    error = step_up_hint(request.scope.get("user"), exc.error)
    headers = retry_after(error.retry_after_seconds) if isinstance(error, TooManyAttempts) else {}
    return response(domain_problem(error, request.url.path), headers)


# Failures of what we depend on, not of the request: the client may retry later.
INFRASTRUCTURE = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    path = request.url.path
    if isinstance(exc, INFRASTRUCTURE):
        _log.error("dependency unavailable", path=path, exc_info=exc)
        detail = "a service we depend on is unavailable; retry shortly"
        return response(UNAVAILABLE.problem(detail, path), {"Retry-After": "5"})
    _log.error("unhandled error", path=path, exc_info=exc)
    return response(INTERNAL.problem("an unexpected error occurred; it has been logged", path))


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainProblem: _domain,
    ValidationException: _validation,
    HTTPException: _http,
    Exception: _unexpected,
}
