"""Stripe adapter: the PaymentGateway and the WebhookVerifier on the official SDK."""

from adapters.stripe.gateway import STRIPE_API_BASE, StripePaymentGateway
from adapters.stripe.webhooks import StripeWebhookVerifier

__all__ = ["STRIPE_API_BASE", "StripePaymentGateway", "StripeWebhookVerifier"]
