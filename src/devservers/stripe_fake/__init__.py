"""A local, stateful fake of Stripe's HTTP API for development and tests.

It speaks the protocol the official SDK speaks (form-encoded bracket parameters, Bearer keys,
Stripe-Account, Idempotency-Key replays, Stripe's error and list shapes) for what Reserva uses:
customers, PaymentIntents with 3-D Secure and manual capture, charges, refunds, Connect
express accounts with destination charges, balances, payouts and signed webhooks. Test-only
endpoints under /_test steer it (pause and reorder webhooks, drop responses, reset...).

`LocalStripe` runs it as a child process; `python -m devservers.stripe_fake` runs it alone.
"""

from devservers.stripe_fake.controller import LocalStripe, LocalStripeError, StripeControl

__all__ = ["LocalStripe", "LocalStripeError", "StripeControl"]
