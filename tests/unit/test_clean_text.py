"""Names refuse control and bidirectional-override characters, in the core, for every caller."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from core.shared.errors import InvalidInput
from core.shared.text import BIDI_CONTROLS, clean_text

REFUSED = ["\x00", "\x1b", "\n", "\t", "\x7f", "\x85", "\ud800", *sorted(BIDI_CONTROLS)]


@pytest.mark.parametrize("char", REFUSED, ids=lambda c: f"U+{ord(c):04X}")
def test_control_and_bidi_characters_are_refused_naming_the_field(char: str) -> None:
    result = clean_text("name", f"Court{char}1")

    assert isinstance(result, Failure)
    assert isinstance(result.failure(), InvalidInput)
    assert result.failure().field == "name"
    assert f"U+{ord(char):04X}" in result.failure().reason


@pytest.mark.parametrize(
    "name", ["Café Ñandú", "مقهى", "Zoë's 👩‍🍳 kitchen", "東京 コート", "Mr\u200eX"]
)
def test_names_in_any_script_with_joiners_and_marks_are_kept(name: str) -> None:
    assert clean_text("name", f"  {name} ") == Success(name)


def test_length_is_checked_after_stripping_and_optional_lines_may_be_empty() -> None:
    assert isinstance(clean_text("name", "   "), Failure)
    assert isinstance(clean_text("name", "x" * 201), Failure)
    assert clean_text("address.postal_code", " ", 20, required=False) == Success("")


@given(st.text(max_size=50))
def test_what_is_accepted_has_no_refused_character(text: str) -> None:
    result = clean_text("name", text)
    if isinstance(result, Success):
        assert not any(c in BIDI_CONTROLS or c < " " or "\x7f" <= c <= "\x9f" for c in text)
