"""Links in messages: the web client's pages and the API's calendar feed."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.rendering import WebLinks
from core.shared.ids import BookingId

LINKS = WebLinks("http://127.0.0.1:8000/", "http://127.0.0.1:8000/api")


def test_verification_and_reset_links_carry_the_token_as_a_query() -> None:
    token = "a+b/c=d&e f"  # a token with every character a URL cares about
    verify = urlsplit(LINKS.verify_email(token))
    reset = urlsplit(LINKS.reset_password(token))

    assert (verify.scheme, verify.netloc, verify.path) == (
        "http",
        "127.0.0.1:8000",
        "/verify-email",
    )
    assert parse_qs(verify.query) == {"token": [token]}
    assert reset.path == "/reset-password"
    assert parse_qs(reset.query) == {"token": [token]}


def test_a_booking_link_names_the_booking() -> None:
    booking = BookingId(uuid.UUID("6f1c1c0e-2b1e-4c36-9d7e-0c4a4c1d2b11"))

    assert LINKS.booking(booking) == (
        "http://127.0.0.1:8000/bookings/6f1c1c0e-2b1e-4c36-9d7e-0c4a4c1d2b11"
    )


def test_the_feed_url_is_on_the_api_and_ends_in_ics() -> None:
    assert LINKS.calendar_feed("Abc-_123") == "http://127.0.0.1:8000/api/calendar/Abc-_123.ics"
    assert LINKS.calendar_feed("a/b?c") == "http://127.0.0.1:8000/api/calendar/a%2Fb%3Fc.ics"


@pytest.mark.parametrize(
    "base", ["javascript:alert(1)", "127.0.0.1:8000", "https://", "https://x.test/?a=1"]
)
def test_a_base_url_must_be_http(base: str) -> None:
    with pytest.raises(ValueError, match="base URL"):
        WebLinks(base, "https://api.x.test")
    with pytest.raises(ValueError, match="base URL"):
        WebLinks("https://x.test", base)
