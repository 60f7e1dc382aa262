"""What the messaging use cases return when they cannot do what was asked."""

from __future__ import annotations

import attrs

from core.shared.errors import DomainError


@attrs.frozen
class WebhookNotVerified(DomainError):
    """A provider's webhook whose signature is missing, wrong or stale: nothing was applied."""

    @property
    def detail(self) -> str:
        return "the webhook's signature is missing, wrong or too old"


@attrs.frozen
class AddressUndeliverable(DomainError):
    """The address hard-bounced: no message goes there until the person changes it."""

    address: str

    @property
    def detail(self) -> str:
        return "this address bounced for good; nothing is sent to it until it changes"
