"""Our own fraud rules beside the processor's (Stripe Radar): velocity within the last hour.

Before a payment starts: too many failed payments by the account or from the address blocks
it; too many bookings by the account sends it to review. After it succeeded: Radar's
"elevated" risk or too many failures of the same card sends it to review (the booking keeps
its slot; an admin approves, or rejects and the customer is refunded in full).
"""

from __future__ import annotations

import enum
from datetime import timedelta

import attrs

from core.payments.model import Risk

WINDOW = timedelta(hours=1)


@attrs.frozen(kw_only=True)
class VelocityLimits:
    failed_per_account: int = 5
    failed_per_card: int = 3
    failed_per_ip: int = 10
    payments_per_account: int = 10


@attrs.frozen(kw_only=True)
class Velocity:
    """Counts within WINDOW before now."""

    failed_by_account: int = 0
    failed_by_card: int = 0
    failed_by_ip: int = 0
    payments_by_account: int = 0


class Verdict(enum.StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


@attrs.frozen(kw_only=True)
class Judgement:
    verdict: Verdict
    reason: str | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW


ALLOW = Judgement(verdict=Verdict.ALLOW)


def before_payment(seen: Velocity, limits: VelocityLimits) -> Judgement:
    if seen.failed_by_account >= limits.failed_per_account:
        return Judgement(
            verdict=Verdict.BLOCK,
            reason=f"{seen.failed_by_account} failed payments by this account within the hour",
        )
    if seen.failed_by_ip >= limits.failed_per_ip:
        return Judgement(
            verdict=Verdict.BLOCK,
            reason=f"{seen.failed_by_ip} failed payments from this address within the hour",
        )
    return _busy_account(seen, limits)


def after_success(risk: Risk | None, seen: Velocity, limits: VelocityLimits) -> Judgement:
    if risk is not None and risk.level in ("elevated", "highest"):
        return Judgement(
            verdict=Verdict.REVIEW,
            reason=f"the processor rates the risk {risk.level} (score {risk.score})",
        )
    if seen.failed_by_card >= limits.failed_per_card:
        return Judgement(
            verdict=Verdict.REVIEW,
            reason=f"{seen.failed_by_card} failed payments with this card within the hour",
        )
    return _busy_account(seen, limits)


def _busy_account(seen: Velocity, limits: VelocityLimits) -> Judgement:
    """Many payments by one account are looked at, never refused: a family books a lot."""
    if seen.payments_by_account >= limits.payments_per_account:
        return Judgement(
            verdict=Verdict.REVIEW,
            reason=f"{seen.payments_by_account} payments by this account within the hour",
        )
    return ALLOW
