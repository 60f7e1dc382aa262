"""The messaging errors as a caller sees them."""

from __future__ import annotations

from core import messaging
from core.shared import problems as shared
from core.shared.problems import kind_of, merged


def test_a_forged_webhook_is_401_and_an_undeliverable_address_409() -> None:
    table = merged([shared.PROBLEMS, messaging.PROBLEMS])
    forged = kind_of(messaging.WebhookNotVerified(), table)
    bounced = kind_of(messaging.AddressUndeliverable("a@example.com"), table)
    assert forged is not None
    assert (forged.status, forged.slug) == (401, "bad-webhook-signature")
    assert bounced is not None
    assert bounced.status == 409
    assert "a@example.com" not in messaging.AddressUndeliverable("a@example.com").detail
