"""Wire shapes of payments: payments, refunds, payment terms, the books.

What never leaves: card fingerprints, payment-method ids, the customer's IP, idempotency keys
and client secrets except in the one answer meant for the customer's browser. Money is integer
minor units with a display string (`MoneyOut`), durations are whole minutes.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated

import msgspec
from returns.result import Failure, Result, Success

from core.payments import (
    PROVIDER_CANCELS_PERCENT,
    Balance,
    Cancellation,
    CancellationPolicy,
    DepositKind,
    DepositRule,
    Difference,
    DifferenceKind,
    LedgerTransaction,
    OfferingTerms,
    Payment,
    PaymentRecord,
    ProviderMoneyView,
    Reconciliation,
    Refund,
    RefundTier,
)
from core.shared.errors import InvalidInput
from core.shared.money import Money
from entrypoints.http.dto import MoneyOut

MINUTE = timedelta(minutes=1)
NoticeMinutes = Annotated[int, msgspec.Meta(ge=0, le=366 * 24 * 60)]
Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
Note = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
Url = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]+$", max_length=2000)]


def _minutes(span: timedelta) -> int:
    return span // MINUTE


def _notice(span: timedelta) -> str:
    hours, minutes = divmod(_minutes(span), 60)
    if minutes:
        return f"{hours} h {minutes} min" if hours else f"{minutes} min"
    return f"{hours} h"


# ---------------------------------------------------------------- terms


class TierOut(msgspec.Struct, frozen=True):
    notice_minutes: int  # cancelling at least this long before the start refunds `percent`
    percent: int


class DepositOut(msgspec.Struct, frozen=True):
    kind: DepositKind
    percent: int | None  # a percent deposit
    amount: MoneyOut | None  # a fixed deposit
    balance_due_before_minutes: int  # the balance is charged this long before the start

    @classmethod
    def of(cls, rule: DepositRule) -> DepositOut:
        return cls(
            kind=rule.kind,
            percent=rule.percent if rule.kind is DepositKind.PERCENT else None,
            amount=None if rule.fixed is None else MoneyOut.of(rule.fixed),
            balance_due_before_minutes=_minutes(rule.balance_due_before),
        )


class TermsOut(msgspec.Struct, frozen=True):
    """What a customer accepts by holding: refunds by notice (the provider cancelling always
    refunds in full; less notice than every tier, or a no-show, refunds nothing)."""

    offering_id: uuid.UUID | None  # None: the platform's default terms
    version: int
    effective_from: datetime
    tiers: list[TierOut]
    provider_cancels_percent: int
    deposit: DepositOut | None
    summary: list[str]  # the same, in words, to show the customer

    @classmethod
    def of(cls, terms: OfferingTerms) -> TermsOut:
        tiers = terms.policy.tiers
        summary = [_tier_words(t) for t in tiers]
        summary.append("cancel later, or do not show up: nothing back")
        summary.append("the provider cancels: everything back")
        if terms.deposit is not None:
            summary.insert(0, _deposit_words(terms.deposit))
        return cls(
            offering_id=terms.offering_id,
            version=terms.version,
            effective_from=terms.effective_from,
            tiers=[TierOut(notice_minutes=_minutes(t.notice), percent=t.percent) for t in tiers],
            provider_cancels_percent=PROVIDER_CANCELS_PERCENT,
            deposit=None if terms.deposit is None else DepositOut.of(terms.deposit),
            summary=summary,
        )


def _tier_words(tier: RefundTier) -> str:
    return f"cancel at least {_notice(tier.notice)} before the start: {tier.percent} % back"


def _deposit_words(rule: DepositRule) -> str:
    now = f"{rule.percent} %" if rule.fixed is None else rule.fixed.display()
    return f"pay {now} now, the rest {_notice(rule.balance_due_before)} before the start"


class TierIn(msgspec.Struct, forbid_unknown_fields=True):
    notice_minutes: NoticeMinutes
    percent: Percent


class MoneyIn(msgspec.Struct, forbid_unknown_fields=True):
    amount_minor: Annotated[int, msgspec.Meta(ge=0)]
    currency: Annotated[str, msgspec.Meta(min_length=3, max_length=3)]

    def money(self, field: str) -> Result[Money, InvalidInput]:
        return Money.of(self.amount_minor, self.currency).alt(
            lambda error: InvalidInput(field=field, reason=error.reason)
        )


class DepositIn(msgspec.Struct, forbid_unknown_fields=True):
    """A percent of the price or a fixed amount now; the balance later."""

    percent: Annotated[int, msgspec.Meta(ge=1, le=99)] | None = None
    amount: MoneyIn | None = None
    balance_due_before_minutes: NoticeMinutes = 2 * 24 * 60

    def rule(self) -> Result[DepositRule, InvalidInput]:
        due = self.balance_due_before_minutes * MINUTE
        if (self.percent is None) == (self.amount is None):
            return Failure(InvalidInput(field="deposit", reason="give percent or amount"))
        if self.percent is not None:
            return DepositRule.of_percent(self.percent, due)
        assert self.amount is not None
        return self.amount.money("deposit.amount").bind(lambda m: DepositRule.of_fixed(m, due))


class TermsIn(msgspec.Struct, forbid_unknown_fields=True):
    tiers: Annotated[list[TierIn], msgspec.Meta(max_length=10)]
    deposit: DepositIn | None = None

    def policy(self) -> Result[CancellationPolicy, InvalidInput]:
        return CancellationPolicy.of(
            tuple(
                RefundTier(notice=t.notice_minutes * MINUTE, percent=t.percent) for t in self.tiers
            )
        )

    def deposit_rule(self) -> Result[DepositRule | None, InvalidInput]:
        if self.deposit is None:
            return Success(None)
        return self.deposit.rule()


# ---------------------------------------------------------------- payments and refunds


class RefundOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    payment_id: uuid.UUID
    amount: MoneyOut
    reason: str
    status: str
    attempt: int
    failure: str | None
    note: str | None
    requested_by: uuid.UUID | None  # None: the platform (a cancellation, a lost slot)
    resolved_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        return cls(
            id=refund.id,
            payment_id=refund.payment_id,
            amount=MoneyOut.of(refund.amount),
            reason=refund.reason.value,
            status=refund.status.value,
            attempt=refund.attempt,
            failure=refund.failure,
            note=refund.note,
            requested_by=refund.requested_by,
            resolved_by=refund.resolved_by,
            created_at=refund.created_at,
            updated_at=refund.updated_at,
        )


class PaymentOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    booking_id: uuid.UUID
    provider_id: uuid.UUID
    part: str  # full, deposit or balance
    status: str
    amount: MoneyOut
    captured: MoneyOut
    refunded: MoneyOut
    refundable: MoneyOut
    terms_version: int  # the version of the terms this payment refunds by
    failure: str | None  # why the last attempt failed, in words (never card details)
    review: str | None
    booking_outcome: str | None
    due_at: datetime | None  # a balance: when it is charged
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        return cls(
            id=payment.id,
            booking_id=payment.booking_id,
            provider_id=payment.provider_id,
            part=payment.part.value,
            status=payment.status.value,
            amount=MoneyOut.of(payment.amount),
            captured=MoneyOut.of(payment.captured),
            refunded=MoneyOut.of(payment.refunded),
            refundable=MoneyOut.of(payment.refundable),
            terms_version=payment.terms.version,
            failure=payment.failure,
            review=None if payment.review is None else payment.review.value,
            booking_outcome=None if payment.booking_outcome is None else payment.booking_outcome,
            due_at=payment.due_at,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
        )


class PaymentWithRefundsOut(msgspec.Struct, frozen=True):
    payment: PaymentOut
    refunds: list[RefundOut]

    @classmethod
    def of(cls, record: PaymentRecord) -> PaymentWithRefundsOut:
        return cls(
            payment=PaymentOut.of(record.payment),
            refunds=[RefundOut.of(r) for r in record.refunds],
        )


class PaymentsOut(msgspec.Struct, frozen=True):
    items: list[PaymentWithRefundsOut]
    next: str | None = None  # `before` of the next page


class CheckoutOut(msgspec.Struct, frozen=True):
    """What the customer's browser needs to confirm the payment with Stripe.js."""

    payment: PaymentOut
    client_secret: str  # hand to stripe.confirmPayment; never stored by us
    publishable_key: str
    terms: TermsOut


class RiskOut(msgspec.Struct, frozen=True):
    level: str | None
    score: int | None
    outcome: str | None


class ReviewItemOut(msgspec.Struct, frozen=True):
    payment: PaymentOut
    customer_id: uuid.UUID
    reason: str | None
    risk: RiskOut | None

    @classmethod
    def of(cls, payment: Payment) -> ReviewItemOut:
        risk = payment.risk
        return cls(
            payment=PaymentOut.of(payment),
            customer_id=payment.customer_id,
            reason=payment.review_reason,
            risk=None if risk is None else RiskOut(risk.level, risk.score, risk.outcome),
        )


class ReviewIn(msgspec.Struct, forbid_unknown_fields=True):
    approve: bool
    note: Note


class GoodwillIn(msgspec.Struct, forbid_unknown_fields=True):
    amount_minor: Annotated[int, msgspec.Meta(ge=1)]
    currency: Annotated[str, msgspec.Meta(min_length=3, max_length=3)]
    note: Note

    def amount(self) -> Result[Money, InvalidInput]:
        return MoneyIn(amount_minor=self.amount_minor, currency=self.currency).money("amount")


class ResolveIn(msgspec.Struct, forbid_unknown_fields=True):
    note: Note


class RefundsOut(msgspec.Struct, frozen=True):
    items: list[RefundOut]


# ---------------------------------------------------------------- the books


class BalanceOut(msgspec.Struct, frozen=True):
    account: str
    provider_id: uuid.UUID | None
    balance: MoneyOut  # signed: what the account gained (+) or gave (-)

    @classmethod
    def of(cls, balance: Balance) -> BalanceOut:
        return cls(
            account=balance.account.kind.value,
            provider_id=balance.account.provider_id,
            balance=MoneyOut.of(Money(balance.minor, balance.currency)),
        )


class BalancesOut(msgspec.Struct, frozen=True):
    items: list[BalanceOut]


class EntryOut(msgspec.Struct, frozen=True):
    account: str
    provider_id: uuid.UUID | None
    amount_minor: int  # signed
    currency: str


class LedgerTransactionOut(msgspec.Struct, frozen=True):
    key: str
    at: datetime
    payment_id: uuid.UUID | None
    refund_id: uuid.UUID | None
    source: str | None
    entries: list[EntryOut]

    @classmethod
    def of(cls, txn: LedgerTransaction) -> LedgerTransactionOut:
        return cls(
            key=txn.key,
            at=txn.at,
            payment_id=txn.payment_id,
            refund_id=txn.refund_id,
            source=txn.source,
            entries=[
                EntryOut(
                    account=e.account.kind.value,
                    provider_id=e.account.provider_id,
                    amount_minor=e.minor,
                    currency=e.currency.code,
                )
                for e in txn.entries
            ],
        )


class LedgerOut(msgspec.Struct, frozen=True):
    items: list[LedgerTransactionOut]


class DifferenceOut(msgspec.Struct, frozen=True):
    kind: DifferenceKind
    source: str
    ledger_minor: int | None
    processor_minor: int | None
    detail: str

    @classmethod
    def of(cls, difference: Difference) -> DifferenceOut:
        return cls(
            kind=difference.kind,
            source=difference.source,
            ledger_minor=difference.ledger_minor,
            processor_minor=difference.processor_minor,
            detail=difference.detail,
        )


class ReconciliationOut(msgspec.Struct, frozen=True):
    day: date
    matched: int
    differences: list[DifferenceOut]

    @classmethod
    def of(cls, reconciliation: Reconciliation) -> ReconciliationOut:
        return cls(
            day=reconciliation.day,
            matched=reconciliation.matched,
            differences=[DifferenceOut.of(d) for d in reconciliation.differences],
        )


class ProviderBalanceOut(msgspec.Struct, frozen=True):
    provider_id: uuid.UUID
    charges_enabled: bool
    payouts_enabled: bool
    ledger: list[BalanceOut]  # what we owe the provider, and what reached their bank
    processor: list[MoneyAtProcessorOut]  # the connected account's balance at Stripe

    @classmethod
    def of(cls, view: ProviderMoneyView) -> ProviderBalanceOut:
        return cls(
            provider_id=view.provider_id,
            charges_enabled=view.charges_enabled,
            payouts_enabled=view.payouts_enabled,
            ledger=[BalanceOut.of(b) for b in view.ledger],
            processor=[
                MoneyAtProcessorOut(state=s, amount=MoneyOut.of(m)) for s, m in view.processor
            ],
        )


class MoneyAtProcessorOut(msgspec.Struct, frozen=True):
    state: str  # available or pending
    amount: MoneyOut


class OnboardingIn(msgspec.Struct, forbid_unknown_fields=True):
    """Where Stripe sends the provider's browser back to: done, or the link expired."""

    return_url: Url
    refresh_url: Url


class OnboardingOut(msgspec.Struct, frozen=True):
    url: str  # a one-time link to Stripe's hosted onboarding


class CancelledOut(msgspec.Struct, frozen=True):
    """A cancelled booking (its fields as before) and the refunds its cancellation started."""

    refunds: list[RefundOut]


def cancellation_refunds(cancellation: Cancellation) -> list[RefundOut]:
    return [RefundOut.of(r) for r in cancellation.refunds]
