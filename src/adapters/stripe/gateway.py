"""The PaymentGateway on Stripe: PaymentIntents with destination charges, refunds, Connect.

Every call that creates an object or moves money sends the caller's idempotency key, so the
SDK's own retries (dropped responses, 409, 5xx) and the caller's retries after a crash reach
Stripe as one request. Outages raise (APIConnectionError, APIError); only card refusals of an
off-session charge come back as a Result.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import stripe
from returns.result import Failure, Result, Success

from core.payments.model import (
    CardNotCharged,
    IntentView,
    PaymentStatus,
    RefundStatus,
    RefundView,
    Risk,
)
from core.payments.ports import (
    AccountView,
    BalanceLine,
    IntentRequest,
    OffSessionRequest,
    PaymentGateway,
    PayoutView,
    RefundRequest,
)
from core.shared.ids import ProviderId, UserId
from core.shared.money import Currency, Money

STRIPE_API_BASE = "https://api.stripe.com"

# The latest charge with its balance transaction: the charge id, the fee and Radar's outcome.
_EXPAND = ["latest_charge.balance_transaction"]

_INTENT_STATUS = {
    "requires_payment_method": PaymentStatus.CREATED,  # FAILED when an attempt failed
    "requires_confirmation": PaymentStatus.CREATED,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.PROCESSING,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELLED,
}

_REFUND_STATUS = {
    "succeeded": RefundStatus.SUCCEEDED,
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


class StripePaymentGateway(PaymentGateway):
    """`api_key`: the platform's secret key; `api_base`: Stripe's API, or a local fake of it.
    `close()` releases the HTTP connections."""

    def __init__(
        self,
        api_key: str,
        api_base: str = STRIPE_API_BASE,
        *,
        max_network_retries: int = 2,
        timeout_seconds: float = 30.0,
    ) -> None:
        self._http = stripe.HTTPXClient(timeout=timeout_seconds)  # async only
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=max_network_retries,
            http_client=self._http,
        ).v1

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]  # untyped in the SDK

    # --- customers and payments ---------------------------------------------------------

    async def create_customer(self, user_id: UserId, idempotency_key: str) -> str:
        customer = await self._client.customers.create_async(
            {"metadata": {"user_id": str(user_id)}},
            options={"idempotency_key": idempotency_key},
        )
        return customer.id

    async def create_intent(self, request: IntentRequest) -> IntentView:
        params: stripe.params.PaymentIntentCreateParams = {
            "amount": request.amount.minor,
            "currency": request.amount.currency.code.lower(),
            "customer": request.customer_ref,
            "automatic_payment_methods": {"enabled": True},
            "transfer_data": {"destination": request.destination},
            "metadata": dict(request.metadata),
            "expand": _EXPAND,
        }
        if request.commission.minor:
            params["application_fee_amount"] = request.commission.minor
        if request.save_card:
            params["setup_future_usage"] = "off_session"
        intent = await self._client.payment_intents.create_async(
            params, options={"idempotency_key": request.idempotency_key}
        )
        return _intent_view(intent)

    async def intent(self, intent_id: str) -> IntentView:
        intent = await self._client.payment_intents.retrieve_async(intent_id, {"expand": _EXPAND})
        return _intent_view(intent)

    async def charge_off_session(
        self, request: OffSessionRequest
    ) -> Result[IntentView, CardNotCharged]:
        params: stripe.params.PaymentIntentCreateParams = {
            "amount": request.amount.minor,
            "currency": request.amount.currency.code.lower(),
            "customer": request.customer_ref,
            "payment_method": request.payment_method_id,
            "off_session": True,
            "confirm": True,
            "transfer_data": {"destination": request.destination},
            "metadata": dict(request.metadata),
            "expand": _EXPAND,
        }
        if request.commission.minor:
            params["application_fee_amount"] = request.commission.minor
        try:
            intent = await self._client.payment_intents.create_async(
                params, options={"idempotency_key": request.idempotency_key}
            )
        except stripe.CardError as error:  # declined, or authentication_required
            return Failure(CardNotCharged(reason=_card_error(error)))
        view = _intent_view(intent)
        if view.status in (PaymentStatus.SUCCEEDED, PaymentStatus.PROCESSING):
            return Success(view)
        return Failure(CardNotCharged(reason=view.failure or f"payment {view.status}"))

    async def cancel_intent(self, intent_id: str) -> IntentView:
        try:
            intent = await self._client.payment_intents.cancel_async(intent_id, {"expand": _EXPAND})
        except stripe.InvalidRequestError as error:
            if error.code != "payment_intent_unexpected_state":
                raise
            return await self.intent(intent_id)  # cancelled or succeeded already: the truth
        return _intent_view(intent)

    # --- refunds ---------------------------------------------------------------------------

    async def refund(self, request: RefundRequest) -> RefundView:
        """A policy refund takes the provider's share and the platform's commission back in
        proportion (`reverse_transfer`, `refund_application_fee`); goodwill takes neither."""
        refund_fee = False
        if request.reverse_transfer:  # Stripe refuses to refund a fee the charge did not take
            intent = await self._client.payment_intents.retrieve_async(request.intent_id)
            refund_fee = bool(intent.application_fee_amount)
        refund = await self._client.refunds.create_async(
            {
                "payment_intent": request.intent_id,
                "amount": request.amount.minor,
                "reverse_transfer": request.reverse_transfer,
                "refund_application_fee": refund_fee,
                "metadata": dict(request.metadata),
            },
            options={"idempotency_key": request.idempotency_key},
        )
        return _refund_view(refund)

    async def refund_view(self, refund_ref: str) -> RefundView:
        return _refund_view(await self._client.refunds.retrieve_async(refund_ref))

    async def refunds_of(self, intent_id: str) -> Sequence[RefundView]:
        page = await self._client.refunds.list_async({"payment_intent": intent_id, "limit": 100})
        return [_refund_view(refund) async for refund in page.auto_paging_iter()]

    # --- Connect ---------------------------------------------------------------------------

    async def create_account(
        self, provider_id: ProviderId, email: str | None, country: str, idempotency_key: str
    ) -> AccountView:
        params: stripe.params.AccountCreateParams = {
            "type": "express",
            "country": country,
            "capabilities": {
                "card_payments": {"requested": True},
                "transfers": {"requested": True},
            },
            "metadata": {"provider_id": str(provider_id)},
        }
        if email is not None:
            params["email"] = email
        account = await self._client.accounts.create_async(
            params, options={"idempotency_key": idempotency_key}
        )
        return _account_view(account)

    async def account(self, account_ref: str) -> AccountView:
        return _account_view(await self._client.accounts.retrieve_async(account_ref))

    async def onboarding_link(self, account_ref: str, return_url: str, refresh_url: str) -> str:
        link = await self._client.account_links.create_async(
            {
                "account": account_ref,
                "type": "account_onboarding",
                "return_url": return_url,
                "refresh_url": refresh_url,
            }
        )
        return link.url

    async def account_balance(self, account_ref: str) -> Sequence[tuple[str, Money]]:
        balance = await self._client.balance.retrieve_async(options={"stripe_account": account_ref})
        return [
            *(("available", _money(part.amount, part.currency)) for part in balance.available),
            *(("pending", _money(part.amount, part.currency)) for part in balance.pending),
        ]

    async def payout(self, account_ref: str, payout_ref: str) -> PayoutView:
        payout = await self._client.payouts.retrieve_async(
            payout_ref, options={"stripe_account": account_ref}
        )
        return PayoutView(
            payout_ref=payout.id,
            account_ref=account_ref,
            amount=_money(payout.amount, payout.currency),
            status=payout.status,
            arrived_at=_time(payout.arrival_date) if payout.status == "paid" else None,
        )

    async def balance_lines(self, since: datetime, until: datetime) -> Sequence[BalanceLine]:
        page = await self._client.balance_transactions.list_async(
            {
                "created": {"gte": int(since.timestamp()), "lt": int(until.timestamp())},
                "limit": 100,
            }
        )
        return [
            BalanceLine(
                ref=line.id,
                kind=line.type,
                source=_id_of(line.source),
                amount=_money(line.amount, line.currency),
                fee=_money(line.fee, line.currency),
                created_at=_time(line.created),
            )
            async for line in page.auto_paging_iter()
        ]


# --- Stripe's objects as the core's views -------------------------------------------------


def _intent_view(intent: stripe.PaymentIntent) -> IntentView:
    error = intent.last_payment_error
    failure = (error.message or error.decline_code or error.code) if error is not None else None
    status = _INTENT_STATUS.get(intent.status)
    if status is None:
        raise ValueError(f"unknown PaymentIntent status {intent.status!r}")
    if status is PaymentStatus.CREATED and error is not None:
        status = PaymentStatus.FAILED
    charge = intent.latest_charge if isinstance(intent.latest_charge, stripe.Charge) else None
    details = charge.payment_method_details if charge is not None else None
    card = details.card if details is not None else None
    outcome = charge.outcome if charge is not None else None
    fee = charge.balance_transaction if charge is not None else None
    method = _id_of(intent.payment_method)
    if method is None and charge is not None:
        method = charge.payment_method
    return IntentView(
        intent_id=intent.id,
        status=status,
        amount_received=intent.amount_received,
        client_secret=intent.client_secret,
        charge_id=charge.id if charge is not None and charge.status == "succeeded" else None,
        fee_minor=fee.fee if isinstance(fee, stripe.BalanceTransaction) else None,
        risk=None
        if outcome is None
        else Risk(level=outcome.risk_level, score=outcome.risk_score, outcome=outcome.type),
        card_fingerprint=card.fingerprint if card is not None else None,
        payment_method_id=method,
        failure=failure if status is PaymentStatus.FAILED else None,
    )


def _refund_view(refund: stripe.Refund) -> RefundView:
    status = _REFUND_STATUS.get(refund.status or "pending")
    if status is None:
        raise ValueError(f"unknown Refund status {refund.status!r}")
    failed = status is RefundStatus.FAILED
    return RefundView(
        refund_id=refund.id,
        status=status,
        failure=(refund.failure_reason or refund.status) if failed else None,
    )


def _account_view(account: stripe.Account) -> AccountView:
    return AccountView(
        account_ref=account.id,
        charges_enabled=bool(account.charges_enabled),
        payouts_enabled=bool(account.payouts_enabled),
    )


def _card_error(error: stripe.CardError) -> str:
    return error.user_message or error.code or "the card was not charged"


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


def _id_of(field: str | _HasId | None) -> str | None:
    """An expandable field's id, expanded or not."""
    return field if field is None or isinstance(field, str) else field.id


def _money(minor: int, code: str) -> Money:
    currency = Currency.of(code).value_or(None)
    if currency is None:
        raise ValueError(f"Stripe answered in a currency we do not know: {code!r}")
    return Money(minor, currency)


def _time(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


__all__ = ["STRIPE_API_BASE", "StripePaymentGateway"]
