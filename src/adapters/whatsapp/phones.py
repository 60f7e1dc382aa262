"""`E164Numbers`: phone numbers checked and written in E.164 with Google's libphonenumber."""

from __future__ import annotations

import unicodedata

import phonenumbers

from core.messaging.ports import PhoneNumbers

MAX_INPUT = 64  # far beyond any real number with its spaces and dashes
MAX_DIGITS = 15  # E.164 (ITU-T): country code and number together


class E164Numbers(PhoneNumbers):
    """`+4930123456` style numbers; a number without a leading + is read in `region` (or the
    `default_region` given here, an ISO 3166 code like "DE"), else refused."""

    def __init__(self, default_region: str | None = None) -> None:
        self._default_region = default_region

    def to_e164(self, raw: str, region: str | None = None) -> str | None:
        if len(raw) > MAX_INPUT or any(_hidden(char) for char in raw):
            return None  # NUL, control, bidi and zero-width characters: never part of a number
        try:
            number = phonenumbers.parse(raw, region or self._default_region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        formatted: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        # libphonenumber calls some over-long German numbers valid; E.164 does not.
        return formatted if len(formatted) - 1 <= MAX_DIGITS else None


def _hidden(char: str) -> bool:
    """Control (Cc), format (Cf: bidi marks, zero-width), separators other than a space."""
    return unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
