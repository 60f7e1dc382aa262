"""Messages in the recipient's language: Jinja2 templates, gettext catalogs, Babel formats.

Templates live in `templates/` (`layout.*` and `kinds/<kind>.html.j2|.txt.j2` for mails,
`subject.txt.j2`, `whatsapp.txt.j2`); `.html.j2` templates autoescape, `.txt.j2` ones do not
and contain no markup. Every value a person typed (offering, provider, place, a name) is
cleaned of control and bidirectional characters before it reaches a template, and HTML shows
it inside `<bdi>` so right-to-left names do not reorder the text around them.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date
from markupsafe import Markup, escape

from adapters.rendering import formatting
from adapters.rendering.catalogs import LANGUAGES, formatting_locale, language_of, translations
from core.messaging.model import MessageKind
from core.messaging.ports import Content, RenderedEmail, Renderer, WhatsAppTemplate

_TEMPLATES = jinja2.PackageLoader("adapters.rendering", "templates")

_NEEDS_LINK = frozenset({MessageKind.EMAIL_VERIFICATION, MessageKind.PASSWORD_RESET})
_NEEDS_BOOKING = frozenset(
    {
        MessageKind.BOOKING_HELD,
        MessageKind.BOOKING_CONFIRMED,
        MessageKind.BOOKING_CANCELLED,
        MessageKind.BOOKING_RESCHEDULED,
        MessageKind.REMINDER,
    }
)
_BLANK_LINES = re.compile(r"\n{3,}")


def _bdi(value: object) -> Markup:
    """A value isolated from the text around it (its direction does not leak)."""
    return Markup("<bdi>{}</bdi>").format(escape(value))


@functools.cache
def _environment(language: str) -> jinja2.Environment:
    """One environment per language, its catalog installed (no shared mutable state)."""
    environment = jinja2.Environment(
        loader=_TEMPLATES,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",),
            disabled_extensions=("txt.j2",),
            default_for_string=True,
            default=True,
        ),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.policies["ext.i18n.trimmed"] = True
    environment.filters["bdi"] = _bdi
    environment.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    return environment


def _tidy_text(text: str) -> str:
    """Plain text as written: no trailing spaces, at most one blank line in a row."""
    lines = "\n".join(line.rstrip() for line in text.strip().splitlines())
    return _BLANK_LINES.sub("\n\n", lines) + "\n"


def _safe_link(link: str | None) -> str | None:
    if link is None:
        return None
    if not link.startswith(("https://", "http://")) or any(c.isspace() for c in link):
        raise ValueError("a message link must be an http(s) URL without spaces")
    return link


class JinjaRenderer(Renderer):
    """Email (subject, HTML, text) and WhatsApp (approved template or free text) for every
    `MessageKind`, in English or German (any other locale gets English)."""

    def __init__(self) -> None:
        for language in LANGUAGES:  # fail at start-up, not at the first mail, on a bad catalog
            _environment(language)

    def email(self, content: Content) -> RenderedEmail:
        context = self._context(content)
        environment = _environment(context["lang"])
        subject = self._subject(environment, context)
        html = environment.get_template("layout.html.j2").render(context, subject=subject)
        text = environment.get_template("layout.txt.j2").render(context)
        return RenderedEmail(subject=subject, html=html, text=_tidy_text(text))

    def whatsapp_text(self, content: Content) -> str:
        context = self._context(content)
        environment = _environment(context["lang"])
        return _tidy_text(environment.get_template("whatsapp.txt.j2").render(context)).strip()

    def whatsapp_template(self, content: Content) -> WhatsAppTemplate:
        """The approved template for the kind and its body parameters, in order. These names
        and orders are the contract with the templates approved at Meta (in "en" and "de"):

        - email_verification, password_reset: {{1}} link
        - existing_account: no parameters
        - booking_held, booking_confirmed, booking_rescheduled, reminder:
          {{1}} offering, {{2}} when (place's zone), {{3}} place
        - booking_cancelled: {{1}} offering, {{2}} when
        - refund_issued: {{1}} amount, {{2}} offering; refund_issued_general: {{1}} amount
        - a provider's copy: the same with the name prefixed "provider_"
        """
        context = self._context(content)
        kind = content.kind
        parameters: tuple[str, ...]
        name = str(kind)
        if kind in _NEEDS_LINK:
            parameters = (context["link"],)
        elif kind is MessageKind.EXISTING_ACCOUNT:
            parameters = ()
        elif kind is MessageKind.REFUND_ISSUED:
            if context["offering"]:
                parameters = (context["refund"], context["offering"])
            else:
                name = "refund_issued_general"
                parameters = (context["refund"],)
        elif kind is MessageKind.BOOKING_CANCELLED:
            parameters = (context["offering"], context["when"])
        else:
            parameters = (context["offering"], context["when"], context["place"])
        if content.for_provider:
            name = f"provider_{name}"
        return WhatsAppTemplate(name=name, language=context["lang"], parameters=parameters)

    @staticmethod
    def _subject(environment: jinja2.Environment, context: dict[str, Any]) -> str:
        subject = environment.get_template("subject.txt.j2").render(context)
        return formatting.plain(subject)

    @staticmethod
    def _context(content: Content) -> dict[str, Any]:
        language = language_of(content.locale)
        locale = formatting_locale(content.locale)
        kind = MessageKind(content.kind)
        link = _safe_link(content.link)
        if kind in _NEEDS_LINK and link is None:
            raise ValueError(f"a {kind} message needs a link")
        booking = content.booking
        if kind in _NEEDS_BOOKING and booking is None:
            raise ValueError(f"a {kind} message needs the booking's facts")
        refund: str | None = None
        if kind is MessageKind.REFUND_ISSUED:
            currency = content.currency or (booking.currency if booking else None)
            if content.refund_minor is None or currency is None:
                raise ValueError("a refund message needs the amount and its currency")
            refund = formatting.money(content.refund_minor, currency, locale)
        name = formatting.plain(content.recipient_name or "") or None
        context: dict[str, Any] = {
            "lang": language,
            "kind": str(kind),
            "for_provider": content.for_provider,
            "name": name,
            "link": link,
            "refund": refund,
            "reminder_in": None,
            "offering": None,
        }
        if content.reminder_before_minutes is not None:
            context["reminder_in"] = formatting.before(content.reminder_before_minutes, locale)
        if booking is not None:
            local_start = booking.starts.astimezone(ZoneInfo(booking.time_zone))
            context |= {
                "offering": formatting.plain(booking.offering_name),
                "provider": formatting.plain(booking.provider_name),
                "place": formatting.plain(booking.place_name),
                "address": formatting.plain(booking.place_address),
                "when": formatting.when(booking.starts, booking.ends, booking.time_zone, locale),
                "day": format_date(local_start, "medium", locale=locale),
                "seats": booking.seats,
                "price": (
                    formatting.money(booking.price_minor, booking.currency, locale)
                    if booking.price_minor
                    else None
                ),
            }
        return context
