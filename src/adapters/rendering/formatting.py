"""Values as a recipient reads them: times in the place's zone, money in its currency.

Everything here returns plain text; HTML escaping is the templates' business (autoescape).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time, format_timedelta
from babel.numbers import format_currency, get_currency_precision
from returns.result import Success

from core.shared.money import Currency
from core.shared.text import BIDI_CONTROLS

_SPACES = re.compile(" {2,}")  # no-break spaces ("22,50\u00a0€") stay as they are
DASH = "\u2013"  # an en dash, between the ends of a time range


def plain(value: str) -> str:
    """`value` safe to show on one line: control characters become spaces and bidirectional
    embeddings, overrides and isolates are dropped (the core refuses them in names already;
    this keeps a stray one from reordering a mail's text)."""
    kept = (
        " " if unicodedata.category(char) == "Cc" else char
        for char in value
        if char not in BIDI_CONTROLS
    )
    return _SPACES.sub(" ", "".join(kept)).strip(" ")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: times must be aware (UTC)")
    return value


def zone_label(local: datetime, locale: Locale) -> str:
    """A short name for the zone at that instant: the locale's abbreviation if it has one
    ("MEZ", "CET"), else the tz database's ("EDT", "IST"), else the offset ("GMT+11:00")."""
    localized = format_datetime(local, "z", tzinfo=local.tzinfo, locale=locale)
    if localized.isalpha() and len(localized) <= 5:
        return localized
    abbreviation = local.tzname() or ""
    if abbreviation.isalpha():
        return abbreviation
    return format_datetime(local, "ZZZZ", tzinfo=local.tzinfo, locale=locale)


def _moment(local: datetime, locale: Locale) -> tuple[str, str, str]:
    return (
        format_date(local, "full", locale=locale),
        format_time(local, "short", tzinfo=local.tzinfo, locale=locale),
        zone_label(local, locale),
    )


def when(starts: datetime, ends: datetime | None, time_zone: str, locale: Locale) -> str:
    """ "Friday, 27 March 2026, 14:00-15:30 CET" (an en dash) in the place's zone and the
    reader's locale; both ends in full when the day or the zone's abbreviation changes."""
    zone = ZoneInfo(time_zone)
    start_day, start_time, start_zone = _moment(_aware(starts).astimezone(zone), locale)
    if ends is None:
        return f"{start_day}, {start_time} {start_zone}"
    end_day, end_time, end_zone = _moment(_aware(ends).astimezone(zone), locale)
    if end_day != start_day:
        return f"{start_day}, {start_time} {start_zone} {DASH} {end_day}, {end_time} {end_zone}"
    if end_zone != start_zone:
        return f"{start_day}, {start_time} {start_zone} {DASH} {end_time} {end_zone}"
    return f"{start_day}, {start_time}{DASH}{end_time} {start_zone}"


def money(minor: int, currency: str, locale: Locale) -> str:
    """Integer minor units shown in the currency's own precision ("€1,234.50", "1.234 ¥")."""
    match Currency.of(currency):
        case Success(known):
            exponent = known.exponent
            code = known.code
        case _:
            code = currency.upper()
            exponent = get_currency_precision(code)
    amount = Decimal(minor).scaleb(-exponent)
    return format_currency(amount, code, locale=locale)


def before(minutes: int, locale: Locale) -> str:
    """How long before the start a reminder goes out, exactly: "in 24 hours", "in 90 minutes",
    "in 2 days" ("in 2 Stunden"); never rounded to a coarser unit."""
    unit: Literal["day", "hour", "minute"] = "minute"
    if minutes % 1440 == 0 and minutes >= 2880:
        unit = "day"
    elif minutes % 60 == 0:
        unit = "hour"
    return format_timedelta(
        timedelta(minutes=minutes),
        granularity=unit,
        threshold=float("inf"),
        add_direction=True,
        locale=locale,
    )
