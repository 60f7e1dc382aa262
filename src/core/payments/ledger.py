"""A double-entry ledger: every movement of money is a transaction of entries summing to zero.

Signs: an entry is what an account gains (+) or gives (-). A capture of 100 with a commission
of 10 is customer -100, provider payable +90, platform revenue +10. Nothing edits an entry;
a correction is a new transaction. Each transaction has a key naming what it records
("capture:<payment>"), and the store writes a key once, so replays post nothing twice.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from core.payments.model import Payment, PaymentId, Refund, RefundId
from core.shared.ids import ProviderId
from core.shared.money import Currency, Money


class AccountKind(enum.StrEnum):
    CUSTOMER = "customer"  # money from (and back to) customers
    PLATFORM_REVENUE = "platform_revenue"
    PROVIDER_PAYABLE = "provider_payable"  # owed to a provider, until paid out
    PROCESSOR_FEES = "processor_fees"
    PROVIDER_PAID_OUT = "provider_paid_out"  # reached the provider's bank


@attrs.frozen(kw_only=True)
class Account:
    kind: AccountKind
    provider_id: ProviderId | None = None  # set for the provider's accounts only

    def __attrs_post_init__(self) -> None:
        per_provider = self.kind in (AccountKind.PROVIDER_PAYABLE, AccountKind.PROVIDER_PAID_OUT)
        if per_provider != (self.provider_id is not None):
            raise ValueError(f"{self.kind} needs a provider id iff it is a provider's account")


CUSTOMER = Account(kind=AccountKind.CUSTOMER)
REVENUE = Account(kind=AccountKind.PLATFORM_REVENUE)
FEES = Account(kind=AccountKind.PROCESSOR_FEES)


def payable(provider_id: ProviderId) -> Account:
    return Account(kind=AccountKind.PROVIDER_PAYABLE, provider_id=provider_id)


def paid_out(provider_id: ProviderId) -> Account:
    return Account(kind=AccountKind.PROVIDER_PAID_OUT, provider_id=provider_id)


@attrs.frozen(kw_only=True)
class Entry:
    account: Account
    minor: int  # signed
    currency: Currency


class Unbalanced(ValueError):
    """Entries that do not sum to zero: a bug, never stored."""


@attrs.frozen(kw_only=True)
class LedgerTransaction:
    key: str
    at: datetime
    entries: tuple[Entry, ...]
    payment_id: PaymentId | None = None
    refund_id: RefundId | None = None
    source: str | None = None  # the processor's object (charge, refund, payout) it records

    def __attrs_post_init__(self) -> None:
        # No entries is allowed: a zero fee is still recorded as known (and posted once).
        if len({e.currency for e in self.entries}) > 1:
            raise Unbalanced(f"{self.key}: one currency per transaction")
        if sum(e.minor for e in self.entries) != 0:
            raise Unbalanced(f"{self.key}: entries sum to {sum(e.minor for e in self.entries)}")


def _entries(currency: Currency, *pairs: tuple[Account, int]) -> tuple[Entry, ...]:
    """Zero amounts are left out: an entry always moves money."""
    return tuple(Entry(account=a, minor=m, currency=currency) for a, m in pairs if m != 0)


def capture(payment: Payment, at: datetime) -> LedgerTransaction:
    paid, commission = payment.captured.minor, payment.commission.minor
    return LedgerTransaction(
        key=f"capture:{payment.id}",
        at=at,
        payment_id=payment.id,
        source=payment.charge_id or payment.intent_id,
        entries=_entries(
            payment.amount.currency,
            (CUSTOMER, -paid),
            (payable(payment.provider_id), paid - commission),
            (REVENUE, commission),
        ),
    )


def processor_fee(payment: Payment, fee: Money, at: datetime) -> LedgerTransaction:
    """The platform pays the processor's fee out of its revenue (destination charges)."""
    return LedgerTransaction(
        key=f"fee:{payment.id}",
        at=at,
        payment_id=payment.id,
        source=payment.charge_id or payment.intent_id,
        entries=_entries(fee.currency, (FEES, fee.minor), (REVENUE, -fee.minor)),
    )


def commission_returned(payment: Payment, refund: Money) -> int:
    """The share of the commission a refund gives back, in proportion, rounded down."""
    if payment.captured.minor == 0:
        return 0
    return payment.commission.minor * refund.minor // payment.captured.minor


def refund(payment: Payment, refunded: Refund, at: datetime) -> LedgerTransaction:
    """A policy refund reverses the provider's transfer and our commission in proportion;
    a goodwill refund comes out of platform revenue alone."""
    amount = refunded.amount.minor
    if refunded.platform_funded:
        pairs: tuple[tuple[Account, int], ...] = ((CUSTOMER, amount), (REVENUE, -amount))
    else:
        ours = commission_returned(payment, refunded.amount)
        pairs = (
            (CUSTOMER, amount),
            (payable(payment.provider_id), ours - amount),
            (REVENUE, -ours),
        )
    return LedgerTransaction(
        key=f"refund:{refunded.id}",
        at=at,
        payment_id=payment.id,
        refund_id=refunded.id,
        source=refunded.processor_refund_id,
        entries=_entries(refunded.amount.currency, *pairs),
    )


def payout(
    provider_id: ProviderId, amount: Money, payout_id: str, at: datetime
) -> LedgerTransaction:
    return LedgerTransaction(
        key=f"payout:{payout_id}",
        at=at,
        source=payout_id,
        entries=_entries(
            amount.currency,
            (payable(provider_id), -amount.minor),
            (paid_out(provider_id), amount.minor),
        ),
    )


@attrs.frozen(kw_only=True)
class Balance:
    account: Account
    currency: Currency
    minor: int


def balances(transactions: Iterable[LedgerTransaction]) -> Sequence[Balance]:
    """Per account and currency; the balances of any set of whole transactions sum to zero."""
    totals: dict[tuple[Account, Currency], int] = {}
    for txn in transactions:
        for entry in txn.entries:
            key = (entry.account, entry.currency)
            totals[key] = totals.get(key, 0) + entry.minor
    return [
        Balance(account=a, currency=c, minor=m)
        for (a, c), m in sorted(
            totals.items(),
            key=lambda item: (item[0][0].kind, str(item[0][0].provider_id), item[0][1].code),
        )
    ]
