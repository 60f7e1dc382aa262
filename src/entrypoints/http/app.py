"""The Litestar application factory."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, MediaType, Request, get
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.serialization import encode_json

from entrypoints.http.auth import PUBLIC, BearerAuthentication, current_principal
from entrypoints.http.controllers import (
    availability,
    bookings,
    catalog,
    catalog_management,
    identity,
    search,
)
from entrypoints.http.dependencies import provide
from entrypoints.http.logging import configure_logging
from entrypoints.http.problems import EXCEPTION_HANDLERS
from entrypoints.http.rate_limit import RateLimitMiddleware
from entrypoints.http.services import Services

DOCS = "/docs"
OPENAPI_JSON = "openapi_json"  # app.state key of the rendered document


def _dependencies(services: Services) -> dict[str, Provide]:
    """Handler parameter name -> what fills it."""
    return {
        "principal": Provide(current_principal),
        "idempotency": provide(services.idempotency),
        "create_provider": provide(services.create_provider),
        "add_place": provide(services.add_place),
        "set_opening_hours": provide(services.set_opening_hours),
        "add_resource": provide(services.add_resource),
        "create_offering": provide(services.create_offering),
        "schedule_sessions": provide(services.schedule_sessions),
        "list_providers": provide(services.list_providers),
        "get_catalog": provide(services.get_catalog),
        "get_offering": provide(services.get_offering),
        "get_availability": provide(services.get_availability),
        "search_offerings": provide(services.search_offerings),
        "hold_slot": provide(services.hold_slot),
        "confirm_booking": provide(services.confirm_booking),
        "cancel_booking": provide(services.cancel_booking),
        "complete_booking": provide(services.complete_booking),
        "mark_no_show": provide(services.mark_no_show),
        "reschedule_booking": provide(services.reschedule_booking),
        "get_booking": provide(services.get_booking),
        "list_my_bookings": provide(services.list_my_bookings),
        "list_provider_bookings": provide(services.list_provider_bookings),
    }


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
            "customers search, see availability, hold and confirm slots. Errors are RFC 9457 "
            "problem+json; money is integer minor units; instants are ISO 8601 (UTC out)."
        ),
        path=DOCS,
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
    )


def create_app(services: Services) -> Litestar:
    configure_logging()

    async def close() -> None:
        await services.close()

    return Litestar(
        route_handlers=[
            *catalog_management.ROUTES,
            *catalog.ROUTES,
            *search.ROUTES,
            *availability.ROUTES,
            *bookings.ROUTES,
            identity.router(services),
            openapi_document,
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
            DefineMiddleware(
                BearerAuthentication,
                authenticator=services.authenticator,
                exclude=[f"^{DOCS}"],
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=_openapi(),
        on_shutdown=[close],
    )
