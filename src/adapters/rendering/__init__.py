"""Rendering: messages (Jinja2 + Babel, en/de), iCalendar files and the links mails carry."""

from adapters.rendering.calendar import IcalendarWriter
from adapters.rendering.links import WebLinks
from adapters.rendering.renderer import JinjaRenderer

__all__ = ["IcalendarWriter", "JinjaRenderer", "WebLinks"]
