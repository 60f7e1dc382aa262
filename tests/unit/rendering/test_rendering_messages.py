"""Every message kind in English and German: escaping, plain text, zones, money, links."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from rendering_support import (
    BOOKING_KINDS,
    BOOKING_LINK,
    HOSTILE,
    HOSTILE_SHOWN,
    LINK,
    content,
    facts,
    utc,
)

from adapters.rendering import JinjaRenderer
from core.messaging.model import MessageKind

RENDERER = JinjaRenderer()
TAG = re.compile(r"</?[A-Za-z!][^>]*>")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


class _Scripts(HTMLParser):
    """What a browser would see: elements opened and the text shown."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parsed(html: str) -> _Scripts:
    parser = _Scripts()
    parser.feed(html)
    parser.close()
    return parser


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("kind", list(MessageKind))
@pytest.mark.parametrize("for_provider", [False, True])
def test_every_kind_renders_an_email_in_both_languages(
    kind: MessageKind, locale: str, for_provider: bool
) -> None:
    email = RENDERER.email(content(kind, locale, for_provider=for_provider))

    assert email.subject
    assert "\n" not in email.subject
    assert not TAG.search(email.text), email.text
    assert email.text.endswith("\n")
    assert "\n\n\n" not in email.text
    shown = _parsed(email.html)
    assert "script" not in shown.tags
    assert shown.tags[:1] == ["html"]
    assert f'<html lang="{locale}">' in email.html
    greeting = "Hallo" if locale == "de" else "Hello"
    assert email.text.startswith(f"{greeting} Anna,")
    if kind in BOOKING_KINDS:
        assert "Morning yoga" in email.subject
        assert "Morning yoga" in email.text
        assert "Main hall" in email.text
        when = (
            "Freitag, 27. März 2026, 14:00\u201315:30 MEZ"
            if locale == "de"
            else "Friday, 27 March 2026, 14:00\u201315:30 CET"
        )
        assert when in email.text
        assert when in email.html
    if kind in (MessageKind.EMAIL_VERIFICATION, MessageKind.PASSWORD_RESET):
        assert LINK in email.text
        assert f'href="{LINK}"' in email.html
        assert LINK not in email.subject  # the secret travels in the link only
    if kind in BOOKING_KINDS:
        assert f'href="{BOOKING_LINK}"' in email.html


@pytest.mark.parametrize("kind", list(MessageKind))
def test_german_mails_are_german(kind: MessageKind) -> None:
    english = RENDERER.email(content(kind, "en"))
    german = RENDERER.email(content(kind, "de"))

    assert german.subject != english.subject
    english_lines = set(english.text.splitlines()) - {"", "--"}
    german_lines = set(german.text.splitlines())
    # Only lines made of values alone (an address, a link, a seat count) read the same.
    shared = {line for line in english_lines & german_lines if " " in line and "://" not in line}
    assert not shared - {"Torstraße 1, 10119 Berlin"}, shared


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("kind", [*BOOKING_KINDS, MessageKind.REFUND_ISSUED])
def test_a_hostile_offering_name_is_escaped_in_html_and_plain_in_text(
    kind: MessageKind, locale: str
) -> None:
    hostile = content(kind, locale, booking=facts(offering_name=HOSTILE, provider_name=HOSTILE))
    email = RENDERER.email(hostile)

    shown = _parsed(email.html)
    assert "script" not in shown.tags
    assert "b" not in shown.tags
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert HOSTILE_SHOWN in "".join(shown.text)  # the reader sees the name, as text
    assert "<bdi>Yoga &lt;script&gt;" in email.html  # and isolated from the text around it
    for part in (email.subject, email.html, email.text):
        assert not BIDI.search(part)
    # Plain text shows the name as it is; besides it, the text part has no tags.
    assert HOSTILE_SHOWN in email.text
    assert not TAG.search(email.text.replace(HOSTILE_SHOWN, ""))
    if kind is not MessageKind.REFUND_ISSUED:
        assert HOSTILE_SHOWN in email.subject


def test_a_name_with_a_newline_cannot_add_a_subject_line() -> None:
    booking = facts(offering_name="Yoga\r\nBcc: victim@example.com")
    email = RENDERER.email(content(MessageKind.BOOKING_CONFIRMED, booking=booking))

    assert "\n" not in email.subject
    assert "\r" not in email.subject
    assert "Yoga Bcc: victim@example.com" in email.subject


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        # Berlin springs forward at 02:00 on 29 March 2026: 00:30-02:30 UTC is 01:30 CET
        # to 04:30 CEST on the wall clock.
        ("en", "Sunday, 29 March 2026, 01:30 CET \u2013 04:30 CEST"),
        ("de", "Sonntag, 29. März 2026, 01:30 MEZ \u2013 04:30 MESZ"),
    ],
)
def test_times_are_shown_on_the_places_clock_across_a_dst_change(
    locale: str, expected: str
) -> None:
    booking = facts(starts=utc(2026, 3, 29, 0, 30), ends=utc(2026, 3, 29, 2, 30))
    email = RENDERER.email(content(MessageKind.BOOKING_CONFIRMED, locale, booking=booking))

    assert expected in email.text


def test_times_follow_the_places_zone_not_the_server() -> None:
    booking = facts(
        starts=utc(2026, 7, 1, 23, 0),
        ends=utc(2026, 7, 2, 0, 0),
        time_zone="America/New_York",
    )
    text = RENDERER.email(content(MessageKind.REMINDER, booking=booking)).text

    assert "Wednesday, 1 July 2026, 19:00\u201320:00 EDT" in text


def test_a_booking_over_midnight_shows_both_days() -> None:
    booking = facts(starts=utc(2026, 3, 27, 21, 0), ends=utc(2026, 3, 28, 1, 0))
    text = RENDERER.email(content(MessageKind.BOOKING_CONFIRMED, "de", booking=booking)).text

    assert "Freitag, 27. März 2026, 22:00 MEZ \u2013 Samstag, 28. März 2026, 02:00 MEZ" in text


@pytest.mark.parametrize(
    ("minor", "currency", "locale", "expected"),
    [
        (2250, "EUR", "en", "€22.50"),
        (2250, "EUR", "de", "22,50\xa0€"),
        (2250, "JPY", "en", "JP¥2,250"),  # no minor unit: 2250 yen
        (2250, "KWD", "en", "KWD2.250"),  # three decimals
        (123456789, "EUR", "de", "1.234.567,89\xa0€"),
    ],
)
def test_money_uses_the_currencys_minor_units_and_the_readers_format(
    minor: int, currency: str, locale: str, expected: str
) -> None:
    refund = content(
        MessageKind.REFUND_ISSUED,
        locale,
        refund_minor=minor,
        currency=currency,
        booking=facts(currency=currency, price_minor=minor),
    )
    email = RENDERER.email(refund)

    assert expected in email.subject
    assert expected in email.text


def test_a_free_booking_says_free() -> None:
    german = RENDERER.email(
        content(MessageKind.BOOKING_CONFIRMED, "de", booking=facts(price_minor=0))
    )

    assert "Preis: Kostenlos" in german.text


def test_a_refund_without_a_booking_still_says_how_much() -> None:
    email = RENDERER.email(content(MessageKind.REFUND_ISSUED, "de", booking=None))

    assert "Wir haben Ihnen 22,50\xa0€ erstattet." in email.text


@pytest.mark.parametrize(
    ("minutes", "locale", "expected"),
    [
        (1440, "en", "Reminder: Morning yoga starts in 24 hours"),
        (120, "en", "Reminder: Morning yoga starts in 2 hours"),
        (90, "de", "Erinnerung: Morning yoga beginnt in 90 Minuten"),
        (2880, "de", "Erinnerung: Morning yoga beginnt in 2 Tagen"),
    ],
)
def test_a_reminder_says_how_soon_exactly(minutes: int, locale: str, expected: str) -> None:
    email = RENDERER.email(content(MessageKind.REMINDER, locale, reminder_before_minutes=minutes))

    assert email.subject == expected


@pytest.mark.parametrize("locale", ["fr", "pt-BR", "", "xx_YY", "DE", "de-AT", "en-US"])
def test_unknown_locales_get_english_and_regional_variants_their_language(locale: str) -> None:
    email = RENDERER.email(content(MessageKind.BOOKING_CONFIRMED, locale))

    german = locale.lower().startswith("de")
    assert email.subject.startswith("Buchung bestätigt" if german else "Booking confirmed")


def test_an_american_reader_gets_american_times() -> None:
    email = RENDERER.email(content(MessageKind.BOOKING_CONFIRMED, "en-US"))

    assert "Friday, March 27, 2026, 2:00\u202fPM\u20133:30\u202fPM CET" in email.text


def test_without_a_name_the_greeting_is_general() -> None:
    email = RENDERER.email(content(MessageKind.PASSWORD_RESET, "de", recipient_name=None))

    assert email.text.startswith("Hallo,\n")


@pytest.mark.parametrize("kind", [MessageKind.EMAIL_VERIFICATION, MessageKind.PASSWORD_RESET])
def test_a_mail_that_needs_a_link_is_refused_without_one(kind: MessageKind) -> None:
    with pytest.raises(ValueError, match="needs a link"):
        RENDERER.email(content(kind, link=None))


@pytest.mark.parametrize(
    "link", ["javascript:alert(1)", "https://x.test/a b", "//x.test/", "data:text/html,x"]
)
def test_only_http_links_are_rendered(link: str) -> None:
    with pytest.raises(ValueError, match="http"):
        RENDERER.email(content(MessageKind.PASSWORD_RESET, link=link))


@pytest.mark.parametrize("kind", BOOKING_KINDS)
def test_a_booking_message_without_the_booking_is_a_programming_error(kind: MessageKind) -> None:
    with pytest.raises(ValueError, match="booking"):
        RENDERER.email(content(kind, booking=None))


def test_the_provider_copy_is_written_for_the_provider() -> None:
    customer = RENDERER.email(content(MessageKind.BOOKING_CONFIRMED, for_provider=False))
    provider = RENDERER.email(content(MessageKind.BOOKING_CONFIRMED, for_provider=True))

    assert customer.subject.startswith("Booking confirmed: Morning yoga")
    assert provider.subject.startswith("New booking: Morning yoga")
    assert "We look forward to seeing you" not in provider.text


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("kind", list(MessageKind))
@pytest.mark.parametrize("for_provider", [False, True])
def test_every_kind_has_a_whatsapp_template_and_free_text(
    kind: MessageKind, locale: str, for_provider: bool
) -> None:
    message = (
        content(kind, locale, for_provider=for_provider, booking=facts(offering_name=HOSTILE))
        if kind in BOOKING_KINDS
        else content(kind, locale, for_provider=for_provider)
    )

    template = RENDERER.whatsapp_template(message)
    text = RENDERER.whatsapp_text(message)

    assert template.language == locale
    assert re.fullmatch(r"[a-z_]+", template.name)
    assert template.name.startswith("provider_") is for_provider
    for parameter in template.parameters:
        # WhatsApp refuses empty parameters, newlines and tabs in them.
        assert parameter
        assert not re.search(r"[\n\t]| {5}", parameter)
        assert not BIDI.search(parameter)
    assert text
    assert not TAG.search(text.replace(HOSTILE_SHOWN, ""))
    assert not BIDI.search(text)
    assert "Reserva sent you this email" not in text  # no mail footer in a chat


def test_whatsapp_template_parameters_follow_the_approved_order() -> None:
    confirmed = RENDERER.whatsapp_template(content(MessageKind.BOOKING_CONFIRMED, "de"))
    cancelled = RENDERER.whatsapp_template(content(MessageKind.BOOKING_CANCELLED, "en"))
    verification = RENDERER.whatsapp_template(content(MessageKind.EMAIL_VERIFICATION))
    general_refund = RENDERER.whatsapp_template(
        content(MessageKind.REFUND_ISSUED, "de", booking=None)
    )

    assert confirmed.name == "booking_confirmed"
    assert confirmed.parameters == (
        "Morning yoga",
        "Freitag, 27. März 2026, 14:00\u201315:30 MEZ",
        "Main hall",
    )
    assert cancelled.parameters == ("Morning yoga", "Friday, 27 March 2026, 14:00\u201315:30 CET")
    assert verification.parameters == (LINK,)
    assert general_refund.name == "refund_issued_general"
    assert general_refund.parameters == ("22,50\xa0€",)
