"""PostGIS adapter of the integrations context (webhook endpoints and deliveries)."""

from adapters.postgis.integrations.repositories import (
    PostgisDeliveries,
    PostgisEndpoints,
    PostgisEventSource,
    PostgisWebhookJobs,
)
from adapters.postgis.integrations.tables import (
    webhook_deliveries,
    webhook_delivery_attempts,
    webhook_endpoints,
)
from adapters.postgis.integrations.unit_of_work import PostgisIntegrationsUnitOfWork

INTEGRATIONS_TABLES = "webhook_delivery_attempts, webhook_deliveries, webhook_endpoints"

__all__ = [
    "INTEGRATIONS_TABLES",
    "PostgisDeliveries",
    "PostgisEndpoints",
    "PostgisEventSource",
    "PostgisIntegrationsUnitOfWork",
    "PostgisWebhookJobs",
    "webhook_deliveries",
    "webhook_delivery_attempts",
    "webhook_endpoints",
]
