"""Card numbers never reach this API: the browser gives them to the processor (PCI SAQ A).

A request that carries anything shaped like one (13 to 19 digits, spaces or dashes allowed
between them, passing the Luhn check) is refused before any handler or log sees it. A run
right after a '+' is a phone number in E.164 form, not a card. Identifiers are not cards: UUIDs
(this API's ids; about one random UUID in 500 has a Luhn-valid run of digits and dashes) are
left out, and so are runs glued to letters (other ids: `ch_3N1234567890123456`).
"""

from __future__ import annotations

import re

_DIGIT_RUN = re.compile(r"(?<![\w+])\d(?:[ -]?\d){12,18}(?!\w)")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def carries_card_number(text: str) -> bool:
    for match in _DIGIT_RUN.finditer(_UUID.sub(" ", text)):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False
