"""Money in integer minor units; a currency knows its exponent (JPY 0, EUR 2, KWD 3)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import attrs
from returns.result import Failure, Result, Success

from core.shared.errors import InvalidInput

# ISO 4217 exponents for the currencies we accept; unknown codes are refused, never guessed.
_EXPONENTS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "HUF": 2,
    "RON": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "MXN": 2,
    "BRL": 2,
    "INR": 2,
    "CNY": 2,
    "ZAR": 2,
    "SGD": 2,
    "HKD": 2,
    "TRY": 2,
    "ILS": 2,
    "AED": 2,
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "CLP": 0,
    "VND": 0,
    "KWD": 3,
    "BHD": 3,
    "JOD": 3,
    "OMR": 3,
    "TND": 3,
}

MAX_MINOR = 10**15  # far above any booking price; keeps values inside BIGINT and JSON-safe


@attrs.frozen
class Currency:
    code: str
    exponent: int

    @classmethod
    def of(cls, code: str) -> Result[Currency, InvalidInput]:
        upper = code.upper()
        if upper not in _EXPONENTS:
            return Failure(InvalidInput(field="currency", reason=f"unknown currency {code!r}"))
        return Success(cls(upper, _EXPONENTS[upper]))


class CurrencyMismatch(ValueError):
    """Adding EUR to USD is a programming error: callers must convert first."""


@attrs.frozen
class Money:
    minor: int
    currency: Currency

    @classmethod
    def of(cls, minor: int, currency_code: str) -> Result[Money, InvalidInput]:
        if not 0 <= minor <= MAX_MINOR:
            return Failure(InvalidInput(field="price", reason="amount out of range"))
        return Currency.of(currency_code).map(lambda cur: cls(minor, cur))

    @classmethod
    def parse(cls, amount: str, currency_code: str) -> Result[Money, InvalidInput]:
        """'12.34' EUR -> 1234 minor units; refuses more decimals than the currency has."""

        def convert(cur: Currency) -> Result[Money, InvalidInput]:
            try:
                value = Decimal(amount)
            except InvalidOperation:
                return Failure(InvalidInput(field="amount", reason="not a decimal number"))
            if not value.is_finite():  # NaN, sNaN and Infinity parse but are no amounts
                return Failure(InvalidInput(field="amount", reason="not a decimal number"))
            if value.copy_abs() > MAX_MINOR:  # also keeps the exact steps below in range
                return Failure(InvalidInput(field="price", reason="amount out of range"))
            # quantize rounds; comparing with the exact input detects lost decimals.
            quantized = value.quantize(Decimal(1).scaleb(-cur.exponent))
            if quantized != value:
                return Failure(InvalidInput(field="amount", reason="too many decimal places"))
            return cls.of(int(quantized.scaleb(cur.exponent)), cur.code)

        return Currency.of(currency_code).bind(convert)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"{self.currency.code} vs {other.currency.code}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def times(self, factor: int) -> Money:
        return Money(self.minor * factor, self.currency)

    def percent(self, pct: int) -> Money:
        """pct % of this amount, rounded half-to-even to the minor unit."""
        exact = Decimal(self.minor) * pct / 100
        return Money(int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)), self.currency)

    def split(self, parts: int) -> tuple[Money, ...]:
        """Split into `parts` amounts that sum exactly; the first ones carry the remainder."""
        base, rest = divmod(self.minor, parts)
        return tuple(Money(base + (1 if i < rest else 0), self.currency) for i in range(parts))

    def as_decimal_str(self) -> str:
        return str(Decimal(self.minor).scaleb(-self.currency.exponent))

    def display(self) -> str:
        """'12.50 EUR': how people read an amount, in every entrypoint alike."""
        return f"{self.as_decimal_str()} {self.currency.code}"
