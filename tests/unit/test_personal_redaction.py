"""The last-line redaction of personal data in free text (core.shared.redaction)."""

from __future__ import annotations

import pytest

from core.shared.redaction import redact_personal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bounce for Ana.Lopez+x@mail.example.co.uk: full", "bounce for [email]: full"),
        ("client 203.0.113.9:51234 refused", "client [ip]:51234 refused"),
        ("from 2001:db8::8a2e:370:7334 and fe80::1", "from [ip] and [ip]"),
        ("full 2001:0db8:0000:0000:0000:ff00:0042:8329", "full [ip]"),
        ("mapped ::ffff:192.0.2.1 here", "mapped [ip] here"),
        ("call +49 30 1234567 or +15551234567.", "call [phone] or [phone]."),
    ],
)
def test_personal_values_are_replaced(text: str, expected: str) -> None:
    assert redact_personal(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-27T03:23:00.123456+00:00 job 4711 ran",
        "booking 6f1c2a8e-93b1-4c1e-9d7a-0b5e2f1a3c4d held until 10:30:00",
        "retry in 3600 s; count=12345678",
        "module::function",
        'GET /calendar/[token].ics HTTP/1.1" 200',
    ],
)
def test_ids_times_and_counts_stay(text: str) -> None:
    assert redact_personal(text) == text
