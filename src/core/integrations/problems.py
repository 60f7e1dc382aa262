"""How the integrations context's failures look to a caller (see core.shared.problems)."""

from __future__ import annotations

from core.integrations.model import DeliveryInProgress, EndpointDisabled, TooManyEndpoints
from core.shared.problems import ProblemKind, ProblemTable

PROBLEMS: ProblemTable = {
    TooManyEndpoints: ProblemKind(
        status=409, slug="too-many-webhook-endpoints", title="Too many webhook endpoints"
    ),
    EndpointDisabled: ProblemKind(
        status=409, slug="webhook-endpoint-disabled", title="Webhook endpoint disabled"
    ),
    DeliveryInProgress: ProblemKind(
        status=409, slug="webhook-delivery-in-progress", title="Webhook delivery in progress"
    ),
}
