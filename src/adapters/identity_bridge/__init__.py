"""The privacy rights' ports (`core.consent`) implemented over the identity context, as
`adapters.bookings_desk` implements payments' port over bookings: contexts stay apart."""

from adapters.identity_bridge.privacy import IdentityPasswordReAuthentication, IdentitySessionEnder

__all__ = ["IdentityPasswordReAuthentication", "IdentitySessionEnder"]
