"""Currencies, Stripe's amount rules, and the fake's (deterministic) processing fee.

Amounts are integers in the currency's smallest unit. Stripe's documented rules applied here:
zero-decimal currencies take whole units; the three-decimal ones (BHD, JOD, KWD, OMR, TND)
take amounts divisible by 10, since card networks settle them to two places; every charge is at
most 99,999,999 units and at least the minimum Stripe lists for the major currencies.

The fee imitates Stripe's card pricing, rounded half-even to the currency's unit:
- two-decimal currencies: 2.9% + 30;
- zero-decimal currencies: 3.6%, no fixed part;
- three-decimal currencies: 2.9% + 300, rounded to a multiple of 10.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from devservers.stripe_fake.errors import invalid

_CODES = """aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp
    byn bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip
    gmd gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt
    lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr
    nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos srd
    std szl thb tjs tnd top try ttd twd tzs uah ugx usd uyu uzs vnd vuv wst xaf xcd xof xpf yer
    zar zmw"""
CURRENCIES = frozenset(_CODES.split())
ZERO_DECIMAL = frozenset(
    ("bif", "clp", "djf", "gnf", "isk", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
     "vuv", "xaf", "xof", "xpf")
)  # fmt: skip
THREE_DECIMAL = frozenset(("bhd", "jod", "kwd", "omr", "tnd"))
MAXIMUM = 99_999_999
# Stripe's minimum charge amounts (in minor units) for the currencies it settles in.
MINIMUMS = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500,
    "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50,
    "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200, "sek": 300,
    "sgd": 50, "thb": 1000,
}  # fmt: skip


def currency_code(raw: str, param: str = "currency") -> str:
    code = raw.lower()  # Stripe accepts either case and answers in lower case
    if code not in CURRENCIES:
        raise invalid(f"Invalid currency: {raw}.", param=param, code="invalid_currency")
    return code


def decimals(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def display(amount: int, currency: str) -> str:
    places = decimals(currency)
    return f"{Decimal(amount).scaleb(-places):.{places}f} {currency}"


def check_charge_amount(amount: int, currency: str, param: str = "amount") -> None:
    if currency in THREE_DECIMAL and amount % 10:
        raise invalid(
            f"Amounts in {currency} must be a multiple of 10: the last of its three decimals "
            f"is always 0 for card payments (got {amount}).",
            param=param,
            code="invalid_charge_amount",
        )
    minimum = MINIMUMS.get(currency, 1)
    if amount < minimum:
        raise invalid(
            f"Amount must be at least {display(minimum, currency)}",
            param=param,
            code="amount_too_small",
        )
    if amount > MAXIMUM:
        raise invalid(
            f"Amount must be no more than {display(MAXIMUM, currency)}",
            param=param,
            code="amount_too_large",
        )


def processing_fee(amount: int, currency: str) -> int:
    """The fee the fake's Stripe keeps from a charge (see the module docstring)."""
    places = decimals(currency)
    if places == 0:
        return round(Fraction(amount * 36, 1000))
    if places == 3:
        return 10 * round(Fraction(amount * 29, 1000 * 10)) + 300
    return round(Fraction(amount * 29, 1000)) + 30


def share(part: int, of: int, whole: int) -> int:
    """`of` scaled by part/whole, rounded half-even (pro-rata fee and transfer refunds)."""
    return round(Fraction(of * part, whole)) if whole else 0
