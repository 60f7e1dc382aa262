"""How the messaging context's failures look to a caller (see core.shared.problems)."""

from __future__ import annotations

from core.messaging.errors import AddressUndeliverable, WebhookNotVerified
from core.shared.problems import ProblemKind, ProblemTable

PROBLEMS: ProblemTable = {
    # A forged or stale provider webhook: the sender is not who it claims to be.
    WebhookNotVerified: ProblemKind(
        status=401, slug="bad-webhook-signature", title="Bad webhook signature"
    ),
    AddressUndeliverable: ProblemKind(
        status=409, slug="address-undeliverable", title="Address undeliverable"
    ),
}
