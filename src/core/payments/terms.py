"""What a customer agrees to when they hold a slot: the cancellation policy and the deposit.

Terms are versioned per offering and never edited: a change is a new version effective from
the moment it is made. A payment stores a copy of the version in effect when its booking was
held (the version the customer was shown), and every refund is computed from that copy.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs
from returns.result import Failure, Result, Success

from core.payments.amounts import floor_to_step, portion
from core.shared.errors import InvalidInput
from core.shared.ids import OfferingId
from core.shared.money import Money

MAX_TIERS = 10
PROVIDER_CANCELS_PERCENT = 100  # whatever the tiers say: the customer did nothing wrong
MAX_NOTICE = timedelta(days=366)


class Canceller(enum.StrEnum):
    """Who ended the booking: a provider (or the platform) cancelling always refunds in full."""

    CUSTOMER = "customer"
    PROVIDER = "provider"


@attrs.frozen(kw_only=True)
class RefundTier:
    """Cancelling at least `notice` before the start refunds `percent` % of what was paid."""

    notice: timedelta
    percent: int


@attrs.frozen(kw_only=True)
class CancellationPolicy:
    """Tiers ordered from the longest notice down; percentages never rise as notice shrinks,
    so cancelling later never refunds more. Less notice than every tier refunds nothing."""

    tiers: tuple[RefundTier, ...]

    @classmethod
    def of(cls, tiers: tuple[RefundTier, ...]) -> Result[CancellationPolicy, InvalidInput]:
        ordered = tuple(sorted(tiers, key=lambda t: t.notice, reverse=True))
        if len(ordered) > MAX_TIERS:
            return Failure(InvalidInput(field="tiers", reason=f"at most {MAX_TIERS} tiers"))
        notices = [t.notice for t in ordered]
        if len(set(notices)) != len(notices):
            return Failure(InvalidInput(field="tiers", reason="two tiers with the same notice"))
        for tier in ordered:
            if not timedelta(0) <= tier.notice <= MAX_NOTICE:
                return Failure(InvalidInput(field="tiers", reason="notice from 0 to 366 days"))
            if not 0 <= tier.percent <= 100:
                return Failure(InvalidInput(field="tiers", reason="percent from 0 to 100"))
        percents = [t.percent for t in ordered]
        if percents != sorted(percents, reverse=True):
            return Failure(
                InvalidInput(field="tiers", reason="a shorter notice cannot refund more")
            )
        return Success(cls(tiers=ordered))

    def percent_for(self, starts_at: datetime, cancelled_at: datetime, by: Canceller) -> int:
        if by is Canceller.PROVIDER:
            return PROVIDER_CANCELS_PERCENT
        notice = starts_at - cancelled_at
        return next((t.percent for t in self.tiers if notice >= t.notice), 0)

    def refund_for(
        self, paid: Money, starts_at: datetime, cancelled_at: datetime, by: Canceller
    ) -> Money:
        return portion(paid, self.percent_for(starts_at, cancelled_at, by))


DEFAULT_POLICY = CancellationPolicy(
    tiers=(
        RefundTier(notice=timedelta(hours=48), percent=100),
        RefundTier(notice=timedelta(hours=24), percent=50),
    )
)


class DepositKind(enum.StrEnum):
    PERCENT = "percent"
    FIXED = "fixed"


@attrs.frozen(kw_only=True)
class DepositRule:
    """Pay part now, the balance `balance_due_before` the start: charged off-session with the
    card saved by the deposit payment, or paid by the customer if that fails."""

    kind: DepositKind
    percent: int = 0
    fixed: Money | None = None
    balance_due_before: timedelta = timedelta(days=2)

    @classmethod
    def of_percent(
        cls, percent: int, balance_due_before: timedelta
    ) -> Result[DepositRule, InvalidInput]:
        if not 1 <= percent <= 99:
            return Failure(InvalidInput(field="deposit.percent", reason="1 to 99"))
        return _due(balance_due_before).map(
            lambda due: cls(kind=DepositKind.PERCENT, percent=percent, balance_due_before=due)
        )

    @classmethod
    def of_fixed(
        cls, fixed: Money, balance_due_before: timedelta
    ) -> Result[DepositRule, InvalidInput]:
        if fixed.minor <= 0 or floor_to_step(fixed) != fixed:
            return Failure(InvalidInput(field="deposit.amount", reason="not a chargeable amount"))
        return _due(balance_due_before).map(
            lambda due: cls(kind=DepositKind.FIXED, fixed=fixed, balance_due_before=due)
        )

    def deposit_of(self, price: Money) -> Money:
        """Never the whole price (that is no deposit) and never more."""
        if self.kind is DepositKind.PERCENT:
            return portion(price, self.percent)
        assert self.fixed is not None
        return self.fixed if self.fixed < price else floor_to_step(price)

    def balance_due_at(self, starts_at: datetime) -> datetime:
        return starts_at - self.balance_due_before


def _due(before: timedelta) -> Result[timedelta, InvalidInput]:
    if not timedelta(0) <= before <= MAX_NOTICE:
        return Failure(InvalidInput(field="deposit.balance_due_before", reason="0 to 366 days"))
    return Success(before)


@attrs.frozen(kw_only=True)
class OfferingTerms:
    """One version of an offering's payment terms. `offering_id` None: the platform default."""

    offering_id: OfferingId | None
    version: int
    policy: CancellationPolicy
    deposit: DepositRule | None = None
    effective_from: datetime

    def snapshot(self) -> Mapping[str, Any]:
        """The stored copy a payment keeps (plain JSON types); `from_snapshot` reads it back."""
        return {
            "offering_id": None if self.offering_id is None else str(self.offering_id),
            "version": self.version,
            "effective_from": self.effective_from.isoformat(),
            "tiers": [
                {"notice_s": int(t.notice.total_seconds()), "percent": t.percent}
                for t in self.policy.tiers
            ],
            "deposit": None if self.deposit is None else _deposit_json(self.deposit),
        }


def _deposit_json(rule: DepositRule) -> Mapping[str, Any]:
    return {
        "kind": rule.kind.value,
        "percent": rule.percent,
        "fixed_minor": None if rule.fixed is None else rule.fixed.minor,
        "currency": None if rule.fixed is None else rule.fixed.currency.code,
        "balance_due_before_s": int(rule.balance_due_before.total_seconds()),
    }


def from_snapshot(data: Mapping[str, Any]) -> OfferingTerms:
    """Read back a stored snapshot; a malformed one is a bug or a corrupt row: it raises."""
    deposit = data["deposit"]
    rule = None
    if deposit is not None:
        fixed = None
        if deposit["fixed_minor"] is not None:
            fixed = Money.of(deposit["fixed_minor"], deposit["currency"]).unwrap()
        rule = DepositRule(
            kind=DepositKind(deposit["kind"]),
            percent=deposit["percent"],
            fixed=fixed,
            balance_due_before=timedelta(seconds=deposit["balance_due_before_s"]),
        )
    offering = data["offering_id"]
    return OfferingTerms(
        offering_id=None if offering is None else OfferingId(uuid.UUID(offering)),
        version=data["version"],
        effective_from=datetime.fromisoformat(data["effective_from"]),
        policy=CancellationPolicy(
            tiers=tuple(
                RefundTier(notice=timedelta(seconds=t["notice_s"]), percent=t["percent"])
                for t in data["tiers"]
            )
        ),
        deposit=rule,
    )
