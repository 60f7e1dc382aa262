"""Amounts a card processor accepts, and shares of an amount, rounded one way everywhere.

Stripe's rule for the three-decimal currencies (KWD, BHD, JOD, OMR, TND): an amount must be a
multiple of 10 minor units. Every share we compute (deposit, commission, refund) rounds to the
currency's step so it can always be charged or refunded as computed.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from core.shared.money import Currency, Money


def step_of(currency: Currency) -> int:
    """The smallest amount the processor moves in this currency, in minor units."""
    return 10 if currency.exponent == 3 else 1


def is_chargeable(amount: Money) -> bool:
    return amount.minor > 0 and amount.minor % step_of(amount.currency) == 0


def portion(amount: Money, percent: int) -> Money:
    """`percent` % of `amount`, rounded half-to-even to the currency's step. Monotone in
    `percent`, always a whole number of steps, and never more than `amount`, so a larger
    share never refunds less."""
    if not 0 <= percent <= 100:
        raise ValueError(f"percent out of range: {percent}")
    step = Decimal(step_of(amount.currency))
    steps = (Decimal(amount.minor) * percent / 100 / step).quantize(
        Decimal(1), rounding=ROUND_HALF_EVEN
    )
    return Money(min(int(steps * step), floor_to_step(amount).minor), amount.currency)


def floor_to_step(amount: Money) -> Money:
    step = step_of(amount.currency)
    return Money(amount.minor - amount.minor % step, amount.currency)
