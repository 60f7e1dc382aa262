"""The Litestar application factory."""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from litestar import Litestar, MediaType, Request, get
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.logging.config import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.serialization import encode_json

from entrypoints.http import health as health_routes
from entrypoints.http import metrics as metrics_routes
from entrypoints.http.auth import PUBLIC, BearerAuthentication, current_principal
from entrypoints.http.compression import compression_config
from entrypoints.http.controllers import (
    account,
    admin,
    availability,
    bookings,
    catalog,
    catalog_management,
    consent,
    integrations,
    live,
    media,
    messages,
    payments,
    payments_admin,
    privacy,
    reminder_plans,
    search,
    sign_in,
    webhooks,
)
from entrypoints.http.dependencies import provide
from entrypoints.http.docs import OfflineSwaggerPlugin
from entrypoints.http.edge import DOCS_PREFIX, add_security_headers, refuse_bad_bytes
from entrypoints.http.logging import configure_logging
from entrypoints.http.observability import observe, report_errors
from entrypoints.http.problems import EXCEPTION_HANDLERS
from entrypoints.http.rate_limit import RateLimitMiddleware, client_context
from entrypoints.http.read_your_writes import ReaderMiddleware
from entrypoints.http.services import Services
from entrypoints.http.token_auth import token_caller

DOCS = DOCS_PREFIX  # one path: the docs are served where the edge gives them their own CSP
OPENAPI_JSON = "openapi_json"  # app.state key of the rendered document


def _dependencies(services: Services) -> dict[str, Provide]:
    """Handler parameter name -> what fills it: every use case under its container name, and
    the few cross-cutting values handlers ask for."""
    return {
        **{name: provide(factory) for name, factory in services.use_cases.items()},
        "principal": Provide(current_principal),
        "caller": Provide(token_caller),
        "client": Provide(client_context),
        "idempotency": provide(services.idempotency),
        "publishable_key": Provide(_constant(services.stripe_publishable_key or "")),
    }


def _constant(value: str) -> Callable[[], Awaitable[str]]:
    async def dependency() -> str:
        return value

    return dependency


@get("/openapi.json", media_type=MediaType.JSON, include_in_schema=False, opt={PUBLIC: True})
async def openapi_document(request: Request[Any, Any, Any]) -> bytes:
    """The same OpenAPI 3.1 document as /docs/openapi.json, at the conventional place."""
    state = request.app.state
    if OPENAPI_JSON not in state:  # rendering it takes long enough to do it only once
        state[OPENAPI_JSON] = encode_json(request.app.openapi_schema.to_schema())
    document: bytes = state[OPENAPI_JSON]
    return document


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Reserva",
        version="0.1.0",
        description=(
            "Bookings marketplace: providers publish places, resources and offerings; "
            "customers search, see availability, hold slots and pay for them (Stripe). Errors "
            "are RFC 9457 problem+json; money is integer minor units; instants are ISO 8601 "
            "(UTC out)."
        ),
        path=DOCS,
        render_plugins=[OfflineSwaggerPlugin()],  # no CDN: works offline (ADR 37)
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
    )


def _cors(origins: Sequence[str]) -> CORSConfig | None:
    """Only the listed browser origins, with bearer tokens (no cookies, so no credentials)."""
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        expose_headers=["Location", "Retry-After"],
        allow_credentials=False,
        max_age=600,
    )


def _compression() -> CompressionConfig:
    """Large JSON (search pages, catalogs) compressed when the client asks; never sign-in or
    personal answers (BREACH). See entrypoints.http.compression."""
    return compression_config(brotli=importlib.util.find_spec("brotli") is not None)


# Litestar logs at INFO by default; the Stripe SDK and httpx would then write two lines for
# every call to Stripe, which costs CPU on the payment path and tells operators nothing.
_LOGGING = LoggingConfig(
    loggers={name: {"level": "WARNING", "propagate": True} for name in ("stripe", "httpx")}
)


def _reader_middleware(services: Services) -> list[DefineMiddleware]:
    """replica (ADR 34): with a replica, a request's bearer is the reader of its reads."""
    if services.reading_as is None:
        return []
    return [
        DefineMiddleware(
            ReaderMiddleware, authenticator=services.authenticator, reading_as=services.reading_as
        )
    ]


def create_app(services: Services) -> Litestar:
    configure_logging()
    report_errors(services.observability)  # observe: before the app (Sentry hooks its making)

    async def close() -> None:
        await services.close()

    app = Litestar(
        route_handlers=[
            *catalog_management.ROUTES,
            *catalog.ROUTES,
            *search.ROUTES,
            *availability.ROUTES,
            *bookings.ROUTES,
            *payments.ROUTES,
            *payments_admin.ROUTES,
            *webhooks.ROUTES,
            *sign_in.ROUTES,
            *account.ROUTES,
            *admin.ROUTES,
            *messages.ROUTES,
            *reminder_plans.ROUTES,
            *integrations.ROUTES,
            *media.ROUTES,
            *privacy.ROUTES,
            *consent.ROUTES,
            *live.ROUTES,
            openapi_document,
            *health_routes.ROUTES,  # observe (issue 12)
            *metrics_routes.ROUTES,  # observe (issue 12)
        ],
        dependencies=_dependencies(services),
        middleware=[
            # Outermost: counts every request, also those that fail authentication.
            DefineMiddleware(
                RateLimitMiddleware,
                limiter=services.rate_limiter,
                authenticator=services.authenticator,
                policy=services.rate_limit_policy,
            ),
            *_reader_middleware(services),  # replica (ADR 34)
            DefineMiddleware(
                BearerAuthentication,
                authenticator=services.authenticator,
                exclude=[f"^{DOCS}"],
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=refuse_bad_bytes,
        before_send=[add_security_headers],
        cors_config=_cors(services.cors_origins),
        compression_config=_compression(),
        openapi_config=_openapi(),
        logging_config=_LOGGING,
        on_shutdown=[close],
        lifespan=[live.relay_lifespan(services.live_relay)],  # live availability (issue 12)
    )
    return observe(app, services.observability)  # observe (issue 12): request ids, metrics
