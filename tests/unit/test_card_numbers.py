"""What the card-number guard refuses, and the identifiers it must let through."""

from __future__ import annotations

import random
import uuid

import pytest

from entrypoints.http.card_numbers import carries_card_number


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        '{"note": "my card is 5555555555554444, cvc 123"}',
        "378282246310005",  # 15 digits (American Express)
    ],
)
def test_card_numbers_are_caught(text: str) -> None:
    assert carries_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "f31aeb00-4982-4407-8941-965096ee86ef",  # its digits and dashes would pass the Luhn check
        "12345678-1234-4234-9234-123456789012",  # all digits
        '{"offering_id": "f31aeb00-4982-4407-8941-965096ee86ef", "seats": 1}',
        "ch_4242424242424242abc",  # an identifier: digits glued to letters
        "4242424242424241",  # fails the Luhn check
        "+4915112345678",  # a phone number
        "2026-11-28T10:00:00+00:00",
    ],
)
def test_identifiers_and_other_digits_are_not_cards(text: str) -> None:
    assert not carries_card_number(text)


def test_no_uuid_looks_like_a_card() -> None:
    randomly = random.Random(8)
    ids = [str(uuid.UUID(int=randomly.getrandbits(128), version=4)) for _ in range(20_000)]

    assert [i for i in ids if carries_card_number(f'{{"id": "{i}"}}')] == []
