"""The catalogs: complete in German, in step with the templates, compiled in memory."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from adapters.rendering import catalogs

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
RENDERING = Path(catalogs.__file__).parent


def _read(language: str) -> Catalog:
    with (RENDERING / "locale" / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def _ids(catalog: Catalog) -> set[str]:
    return {message.id for message in catalog if message.id and isinstance(message.id, str)}


def test_every_english_msgid_is_translated_in_german() -> None:
    english, german = _read("en"), _read("de")

    assert _ids(english), "the English catalog is empty"
    assert _ids(english) == _ids(german)
    for msgid in sorted(_ids(english)):
        translated = german[msgid]
        assert translated is not None
        assert isinstance(translated.string, str)  # no plural forms in these catalogs
        assert translated.string, f"not translated: {msgid!r}"
        assert translated.string != msgid or not re.search("[a-z]{4}", msgid), msgid
        assert not translated.fuzzy, f"fuzzy: {msgid!r}"
        # Every value the English sentence shows, the German one shows too (and no other).
        assert sorted(PLACEHOLDER.findall(translated.string)) == sorted(
            PLACEHOLDER.findall(msgid)
        ), msgid


def test_the_catalogs_hold_exactly_the_templates_messages() -> None:
    """`pybabel extract` (see catalogs.py) was run after the last template change."""
    method_map = [("templates/**.j2", "jinja2")]
    options = {
        "templates/**.j2": {
            "extensions": "jinja2.ext.i18n",
            "trimmed": "true",
            "newstyle_gettext": "true",
        }
    }
    extracted = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(RENDERING), method_map=method_map, options_map=options
        )
    }

    assert all(isinstance(message, str) for message in extracted)  # no plurals today
    assert extracted == _ids(_read("en"))


def test_catalogs_compile_in_memory_and_translate() -> None:
    german = catalogs.translations("de")

    assert german.gettext("View booking") == "Buchung ansehen"
    assert catalogs.translations("en").gettext("View booking") == "View booking"
    assert not list(RENDERING.rglob("*.mo")), "compiled catalogs are never committed"


def test_locales_map_to_a_language_we_write() -> None:
    assert catalogs.language_of("de-AT") == "de"
    assert catalogs.language_of("de_CH") == "de"
    assert catalogs.language_of("fr") == "en"
    assert catalogs.language_of("") == "en"
    assert str(catalogs.formatting_locale("en")) == "en_GB"
    assert str(catalogs.formatting_locale("en-US")) == "en_US"
    assert str(catalogs.formatting_locale("de-AT")) == "de_AT"
    assert str(catalogs.formatting_locale("fr-FR")) == "en_GB"
    assert str(catalogs.formatting_locale("de-XX")) == "de_DE"
