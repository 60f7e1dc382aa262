"""Stripe's test PaymentMethod tokens and what each one makes the fake do.

A token (`pm_card_visa`) is usable wherever a PaymentMethod id is; each use makes a new `pm_...`
object carrying the card's brand, last 4 digits and fingerprint (stable per card, as a real
card's is).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

ThreeDS = Literal["never", "always", "on_session"]


@dataclass(frozen=True)
class Card:
    number: str
    brand: str = "visa"
    three_d_secure: ThreeDS = "never"
    # "on_session": 3DS on every on-session payment; off-session ones only succeed once the card
    # was saved for off-session use by a payment with setup_future_usage.
    decline_code: str | None = None
    risk_level: Literal["normal", "elevated", "highest"] = "normal"  # "highest" is blocked
    refund_fails: bool = False
    funding: str = "credit"

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.number.encode()).hexdigest()[:16]

    @property
    def risk_score(self) -> int:
        return {"normal": 20, "elevated": 70, "highest": 95}[self.risk_level]


TEST_CARDS = {
    "pm_card_visa": Card("4242424242424242"),
    "pm_card_visa_debit": Card("4000056655665556", funding="debit"),
    "pm_card_mastercard": Card("5555555555554444", brand="mastercard"),
    "pm_card_amex": Card("378282246310005", brand="amex"),
    "pm_card_threeDSecure2Required": Card("4000000000003220", three_d_secure="always"),
    "pm_card_authenticationRequiredOnSetup": Card("4000002500003155", three_d_secure="on_session"),
    "pm_card_chargeDeclined": Card("4000000000000002", decline_code="generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": Card(
        "4000000000009995", decline_code="insufficient_funds"
    ),
    "pm_card_refundFail": Card("4000000000005126", refund_fails=True),
    "pm_card_riskLevelElevated": Card("4000000000009235", risk_level="elevated"),
    "pm_card_riskLevelHighest": Card("4100000000000019", risk_level="highest"),
}

DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "fraudulent": "Your card was declined.",
    "authentication_required": "Your card was declined. This transaction requires authentication.",
}
