"""E164Numbers: numbers people type, checked and written in E.164 by libphonenumber."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.whatsapp import E164Numbers

NUMBERS = E164Numbers()


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+49 30 901820", None, "+4930901820"),
        ("+49 (0)151 2345-6789", None, "+4915123456789"),
        ("0151 23456789", "DE", "+4915123456789"),
        ("030 901820", "DE", "+4930901820"),
        ("+1 (202) 456-1111", None, "+12024561111"),
        ("(202) 456-1111", "US", "+12024561111"),
        ("+44 20 7946 0958", None, "+442079460958"),
        ("00 49 30 901820", "DE", "+4930901820"),
    ],
)
def test_valid_numbers_come_out_in_e164(raw: str, region: str | None, expected: str) -> None:
    assert NUMBERS.to_e164(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("030 901820", None),  # national, and no region to read it in
        ("+49 30", None),  # too short
        ("+49 151 234567890123", None),  # too long
        ("+999 123456789", None),  # no such country
        ("call me", None),
        ("", None),
        ("+", "DE"),
        ("+4930901820\x00", None),  # NUL
        ("+49\t30901820", None),  # control
        ("+4930\u202e901820", None),  # right-to-left override
        ("\u200f+4930901820", None),  # right-to-left mark
        ("+49\u200b30901820", None),  # zero-width space
        ("+4930901820\n", None),
        ("+4930901820" + " " * 100, None),  # absurdly long input
    ],
)
def test_invalid_or_disguised_numbers_are_refused(raw: str, region: str | None) -> None:
    assert NUMBERS.to_e164(raw, region) is None


def test_a_number_longer_than_e164_allows_is_refused_though_libphonenumber_takes_it() -> None:
    """Found by the property below: 16 digits with the country code."""
    assert phonenumbers.is_valid_number(phonenumbers.parse("20100000000000", "DE"))
    assert NUMBERS.to_e164("20100000000000", "DE") is None


def test_a_default_region_reads_national_numbers_and_a_region_given_wins() -> None:
    german = E164Numbers(default_region="DE")

    assert german.to_e164("030 901820") == "+4930901820"
    assert german.to_e164("(202) 456-1111", "US") == "+12024561111"
    assert german.to_e164("+44 20 7946 0958") == "+442079460958"


@given(st.text(alphabet="+0123456789 ()-./", max_size=24), st.sampled_from([None, "DE", "US"]))
def test_what_comes_out_is_e164_and_stays_itself(raw: str, region: str | None) -> None:
    e164 = NUMBERS.to_e164(raw, region)
    if e164 is not None:
        assert e164.startswith("+")
        assert e164[1:].isdigit()
        assert len(e164) <= 16
        assert NUMBERS.to_e164(e164) == e164
        assert phonenumbers.is_valid_number(phonenumbers.parse(e164))


@given(st.text(max_size=30))
def test_nothing_hidden_ever_passes(raw: str) -> None:
    e164 = NUMBERS.to_e164(raw)
    if e164 is not None:
        assert all(char.isprintable() for char in raw)
