"""Text a person typed and others will read: names, categories, address lines.

One rule for all of it. Control characters (C0, DEL, C1: NUL, newlines, escapes) and lone
surrogates have no place in a name, and PostgreSQL refuses NUL outright. Bidirectional
embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) make a name display as
something else than it is ("Trojan Source"). Other format characters stay: zero-width joiners
build emoji, and marks like U+200E only affect neighbouring punctuation.
"""

from __future__ import annotations

import unicodedata

from returns.result import Failure, Result, Success

from core.shared.errors import InvalidInput

BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs"})


def refused_character(value: str) -> str | None:
    """The first character no name may contain, if any."""
    return next(
        (
            char
            for char in value
            if char in BIDI_CONTROLS or unicodedata.category(char) in _REFUSED_CATEGORIES
        ),
        None,
    )


def clean_text(
    field: str, value: str, max_len: int = 200, *, required: bool = True
) -> Result[str, InvalidInput]:
    """`value` without surrounding spaces, 1 (0 if not required) to `max_len` characters, and
    no refused character."""
    refused = refused_character(value)
    if refused is not None:
        reason = f"must not contain control or bidirectional characters (U+{ord(refused):04X})"
        return Failure(InvalidInput(field=field, reason=reason))
    stripped = value.strip()
    if not int(required) <= len(stripped) <= max_len:
        least = int(required)
        return Failure(InvalidInput(field=field, reason=f"must be {least} to {max_len} characters"))
    return Success(stripped)
