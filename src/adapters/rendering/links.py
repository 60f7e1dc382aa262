"""Where a person acts on a message: pages of the web client, and the calendar feed (API)."""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

from core.messaging.ports import Links
from core.shared.ids import BookingId


def _base(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{what} must be an http(s) base URL without query, got {url!r}")
    return url.rstrip("/")


class WebLinks(Links):
    """`web_url` is settings' PUBLIC_WEB_URL (the web client), `api_url` the public API base."""

    def __init__(self, web_url: str, api_url: str) -> None:
        self._web = _base(web_url, "web_url")
        self._api = _base(api_url, "api_url")

    def verify_email(self, token: str) -> str:
        return f"{self._web}/verify-email?{urlencode({'token': token})}"

    def reset_password(self, token: str) -> str:
        return f"{self._web}/reset-password?{urlencode({'token': token})}"

    def booking(self, booking_id: BookingId) -> str:
        return f"{self._web}/bookings/{quote(str(booking_id), safe='')}"

    def calendar_feed(self, token: str) -> str:
        return f"{self._api}/calendar/{quote(token, safe='')}.ics"
