"""Message catalogs: gettext .po files read and compiled in memory when first needed.

No binary .mo is committed: `translations(locale)` parses `locale/<lang>/LC_MESSAGES/
messages.po` with Babel, writes the .mo into a BytesIO and loads that. To refresh the catalogs
after changing a template (run from `src/adapters/rendering`, with the project's venv):

    pybabel extract -F babel.cfg --no-location --omit-header -o messages.pot .
    pybabel update -i messages.pot -d locale --no-fuzzy-matching --ignore-obsolete
    rm messages.pot

then translate the new German entries (tests/unit/rendering checks every msgid is translated).
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "de")  # the languages we write; anything else is answered in English
DEFAULT_LANGUAGE = "en"
# How a bare language formats dates and numbers: English mails use British conventions
# ("Friday, 27 March 2026, 14:00 CET"); a region the recipient gave ("en-US") is honoured.
_DEFAULT_REGION = {"en": "en_GB", "de": "de_DE"}


def language_of(locale: str) -> str:
    """The catalog to write in for a recipient's locale ("de-AT" -> "de"); unknown -> "en"."""
    language = locale.replace("-", "_").split("_", 1)[0].lower()
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def formatting_locale(locale: str) -> Locale:
    """The Babel locale for dates and money: the recipient's, if we write their language."""
    language = language_of(locale)
    tag = locale.replace("-", "_")
    if tag.split("_", 1)[0].lower() == language and "_" in tag:
        try:
            return Locale.parse(tag)
        except (ValueError, UnknownLocaleError):
            pass
    return Locale.parse(_DEFAULT_REGION[language])


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"


def read_catalog(language: str) -> Catalog:
    with catalog_path(language).open("rb") as po:
        return read_po(po, locale=language)


@functools.cache
def translations(language: str) -> Translations:
    """The compiled catalog of one of `LANGUAGES` (fuzzy entries are left out)."""
    if language not in LANGUAGES:
        raise ValueError(f"no catalog for {language!r}")
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog(language), use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled, domain="messages")
