"""What the PaymentGateway contract needs around a gateway: the customer's browser and the
processor's own hands (a test card's effect, a payout), one driver per backend.

Cards are named as Stripe's test PaymentMethods are (pm_card_visa...); every driver gives
them the same meaning.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from adapters.memory.payments import (
    ASKS_3DS_ALWAYS,
    ASKS_3DS_ONCE,
    DECLINED,
    GOOD,
    RISKY,
    Card,
    MemoryPaymentGateway,
    ProcessorCrash,
    ProcessorRefused,
    RefundMode,
)
from adapters.stripe import StripePaymentGateway
from core.payments.model import IntentView, RefundStatus
from core.payments.ports import PaymentGateway
from core.shared.money import Currency, Money
from devservers.net import free_port
from devservers.stripe_fake import LocalStripe
from post_recorder import PostRecorder

PUBLISHABLE_KEY = "pk_test_reserva"
SECRET_KEY = "sk_test_reserva"
WEBHOOK_SECRET = "whsec_reserva_contract"
RETURN_URL = "https://reserva.test/payments/return"


class Processor(Protocol):
    """A PaymentGateway backend and the hands the contract tests need around it."""

    @property
    def gateway(self) -> PaymentGateway: ...

    @property
    def refused(self) -> type[Exception]:
        """What the gateway raises when the processor refuses a request outright."""
        ...

    async def pay(self, intent: IntentView, card: str) -> None:
        """The customer's browser confirms the intent with a test card (a decline is shown
        to the customer, not raised)."""
        ...

    async def authenticate(self, intent_id: str, succeed: bool) -> None:
        """The customer answers the bank's 3-D Secure page."""
        ...

    async def visit(self, url: str) -> None:
        """The provider opens the onboarding link and finishes onboarding."""
        ...

    async def settle_refunds(self) -> None:
        """Refunds that are going to fail (pm_card_refundFail) fail now."""
        ...

    async def pay_out(self, account_ref: str, amount_minor: int, currency: str) -> str:
        """The processor pays the connected account's funds out; the payout's id."""
        ...

    @property
    def lost(self) -> type[Exception]:
        """What the gateway raises when an answer is lost (if its client does not retry)."""
        ...

    def lose_next_answer(self, operation: str) -> None:
        """The next `operation` (create_intent, charge_off_session, refund) is carried out
        but its answer is lost on the way back."""
        ...

    def net_received(self, currency: str) -> int:
        """Charged minus refunded so far at the processor, in minor units."""
        ...


STRIPE_PATHS = {
    "create_intent": "/v1/payment_intents",
    "charge_off_session": "/v1/payment_intents",
    "refund": "/v1/refunds",
}


@dataclass
class StripeProcessor:
    """StripePaymentGateway on the local Stripe fake, through the real SDK over HTTP (which
    retries a lost answer itself, with the same idempotency key)."""

    gateway: StripePaymentGateway
    fake: LocalStripe
    browser: httpx.AsyncClient
    refused: type[Exception]
    lost: type[Exception]

    async def pay(self, intent: IntentView, card: str) -> None:
        response = await self.browser.post(
            f"/v1/payment_intents/{intent.intent_id}/confirm",
            data={
                "client_secret": intent.client_secret or "",
                "payment_method": card,
                "return_url": RETURN_URL,
            },
            headers={"Authorization": f"Bearer {PUBLISHABLE_KEY}"},
        )
        if response.status_code != 402:  # a card error is for the customer to see
            response.raise_for_status()

    async def authenticate(self, intent_id: str, succeed: bool) -> None:
        outcome = "authenticate" if succeed else "fail"
        response = await self.browser.post(f"/_3ds/{intent_id}", params={"outcome": outcome})
        assert response.status_code in (200, 303), response.text

    async def visit(self, url: str) -> None:
        response = await self.browser.get(url)
        assert response.status_code in (200, 303), response.text

    async def settle_refunds(self) -> None:
        self.fake.control.settle_refunds()

    async def pay_out(self, account_ref: str, amount_minor: int, currency: str) -> str:
        payout = self.fake.control.create_payout(account_ref, amount_minor, currency)
        payout_id: str = payout["id"]
        return payout_id

    def lose_next_answer(self, operation: str) -> None:
        self.fake.control.drop_responses(STRIPE_PATHS[operation])

    def net_received(self, currency: str) -> int:
        moved = self.fake.control.stats()["payment_intents"].values()
        return sum(m["charged"] - m["refunded"] for m in moved if m["currency"] == currency.lower())


MEMORY_CARDS: dict[str, Card] = {
    "pm_card_visa": GOOD,
    "pm_card_threeDSecure2Required": ASKS_3DS_ALWAYS,
    "pm_card_authenticationRequiredOnSetup": ASKS_3DS_ONCE,
    "pm_card_chargeDeclined": DECLINED,
    "pm_card_riskLevelElevated": RISKY,
    "pm_card_refundFail": GOOD,  # and its refunds pend until they fail
}


@dataclass
class MemoryProcessor:
    """The in-memory processor fake; its test hands are plain methods."""

    gateway: MemoryPaymentGateway
    refused: type[Exception] = ProcessorRefused
    lost: type[Exception] = ProcessorCrash

    async def pay(self, intent: IntentView, card: str) -> None:
        if card == "pm_card_refundFail":
            self.gateway.refund_mode = RefundMode.PENDING
        self.gateway.pay(intent.intent_id, MEMORY_CARDS[card])

    async def authenticate(self, intent_id: str, succeed: bool) -> None:
        self.gateway.authenticate(intent_id, succeed)

    async def visit(self, url: str) -> None:
        self.gateway.complete_onboarding(urlsplit(url).path.rsplit("/", 1)[-1])

    async def settle_refunds(self) -> None:
        for refund in self.gateway.refunds():
            if refund.status is RefundStatus.PENDING:
                self.gateway.settle_refund(refund.refund_id, succeeded=False)

    async def pay_out(self, account_ref: str, amount_minor: int, currency: str) -> str:
        return self.gateway.pay_out(account_ref, Money.of(amount_minor, currency).unwrap())

    def lose_next_answer(self, operation: str) -> None:
        self.gateway.crash_after(operation)

    def net_received(self, currency: str) -> int:
        return self.gateway.net_received(Currency.of(currency).unwrap())


@dataclass(frozen=True)
class Delivery:
    body: bytes
    signature: str

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event


class WebhookEndpoint(PostRecorder[Delivery]):
    """Stands for `POST /webhooks/stripe`: keeps every delivery, answers 200."""

    def __init__(self) -> None:
        super().__init__(lambda _, body, headers: Delivery(body, headers["Stripe-Signature"]))
        self.url = f"{self.base_url}/webhooks/stripe"


def started_fake(endpoint: WebhookEndpoint) -> Iterator[LocalStripe]:
    with LocalStripe(free_port(), endpoint.url, WEBHOOK_SECRET) as fake:
        yield fake
