"""Outgoing webhooks: POSTing signed deliveries to integrators' endpoints over httpx."""

from adapters.webhooks_out.poster import (
    HttpxWebhookPoster,
    Resolver,
    is_public_address,
    system_resolver,
)

__all__ = ["HttpxWebhookPoster", "Resolver", "is_public_address", "system_resolver"]
