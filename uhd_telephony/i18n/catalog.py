"""The message catalogs: one ``messages.po`` per language, read at run time; ``Translator`` speaks one language.

The ``.po`` files under ``locale/<lang>/LC_MESSAGES/`` are the only source: at first use each is read with
``babel.messages.pofile.read_po`` and compiled in memory with ``babel.messages.mofile.write_mo`` into a
``babel.support.Translations`` (a ``gettext.GNUTranslations``, what Jinja2's i18n extension installs). No ``.mo``
file is written or shipped, so a plain clone needs no build step, and an edited ``.po`` counts at the next start.

Message ids are English: prose as written (``"Log out"``), enumerations as ``<kind>.<code>`` keys
(``"status.in_progress"``, ``i18n.labels``). Placeholders are Python's named ``%(name)s`` in Python, in the Jinja2
templates and in the console's scripts (``t("… %(n)s …", {n: 3})``, ``static/i18n.js``); a literal percent sign
in a message with placeholders is ``%%``. A msgid without a translation falls back to itself (English); the
catalog test (``tests/i18n``) makes sure none is missing.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

log = logging.getLogger(__name__)

DEFAULT_LOCALE = "de"
LOCALES = ("de", "en")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
# the formatting locales of the UI's languages: English in a German hospital reads 24-hour clocks, day first
BABEL_LOCALES = {"de": "de_DE", "en": "en_GB"}
_TAG = re.compile(r"^\s*([A-Za-z]{1,8})(?:[-_][A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


def is_locale(value: object) -> bool:
    """Whether ``value`` is one of the UI's languages (``de``, ``en``)."""
    return isinstance(value, str) and value in LOCALES


def check_locale(value: str | None) -> str:
    """``value`` when it is one of the UI's languages, else the default (German)."""
    return value if value is not None and is_locale(value) else DEFAULT_LOCALE


def negotiate(accept_language: str | None) -> str:
    """The language of an ``Accept-Language`` header among ``LOCALES`` (by quality, then order); German when none
    matches or the header is missing or malformed."""
    if not accept_language:
        return DEFAULT_LOCALE
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:32]):
        found = _TAG.match(part)
        if found is None:
            continue
        try:
            quality = float(found.group(2)) if found.group(2) is not None else 1.0
        except ValueError:
            continue
        language = found.group(1).lower()
        if quality > 0 and language in LOCALES:
            ranked.append((-quality, index, language))
    return min(ranked)[2] if ranked else DEFAULT_LOCALE


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def po_catalog(locale: str) -> Catalog:
    """The parsed ``.po`` catalog of ``locale`` (read once per process)."""
    with po_path(locale).open("rb") as handle:
        return read_po(handle, locale=BABEL_LOCALES[locale], domain=DOMAIN, abort_invalid=True)


@cache
def translations(locale: str) -> Translations:
    """The compiled translations of ``locale`` (what Jinja2's ``install_gettext_translations`` takes)."""
    buffer = io.BytesIO()
    write_mo(buffer, po_catalog(locale))
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def _format(text: str, params: Mapping[str, Any]) -> str:
    if not params:
        return text
    try:
        return text % params
    except (KeyError, ValueError, TypeError):
        log.warning("message %r: placeholders do not match %s", text, sorted(params))
        return text


class Translator:
    """One language's messages: ``t.gettext("Hello %(name)s", name="Anna")`` (also ``t(...)``)."""

    def __init__(self, locale: str) -> None:
        self.locale = check_locale(locale)
        self.translations = translations(self.locale)

    def gettext(self, msgid: str, /, **params: Any) -> str:
        """``msgid`` in this language, its ``%(name)s`` placeholders filled from ``params``."""
        return _format(self.translations.gettext(msgid), params)

    __call__ = gettext

    def ngettext(self, singular: str, plural: str, n: int, /, **params: Any) -> str:
        """The singular or plural form for ``n`` (``n`` is a placeholder too: ``%(n)s``)."""
        return _format(self.translations.ngettext(singular, plural, n), {"n": n, **params})

    def has(self, msgid: str) -> bool:
        """Whether the catalog translates ``msgid`` (a non-empty entry)."""
        message = po_catalog(self.locale).get(msgid)
        if message is None or message.fuzzy:
            return False
        forms = message.string if isinstance(message.string, tuple | list) else (message.string,)
        return bool(forms) and all(forms)

    def __repr__(self) -> str:
        return f"Translator({self.locale!r})"


@cache
def translator(locale: str | None = None) -> Translator:
    """The translator of ``locale`` (German when None or not one of the UI's languages)."""
    return Translator(check_locale(locale))


def gettext(locale: str | None, msgid: str, /, **params: Any) -> str:
    """``msgid`` in ``locale`` with its placeholders filled: ``gettext("de", "Log out")`` is ``"Abmelden"``."""
    return translator(locale).gettext(msgid, **params)


def N_(msgid: str) -> str:  # the gettext convention's name, which the extraction looks for
    """Marks ``msgid`` for the catalog where it is defined and translated later (a constant, a label table)."""
    return msgid


class Msg(str):
    """A message rendered later, in the language of whoever reads it: as a ``str`` it is the English text (what
    logs and the API's ``message`` carry); ``render(locale)`` translates its ``msgid`` and fills its ``params``.

    ``raise NotAuthenticated(Msg("wrong username or password"))``: the web layer's error middleware answers
    ``message`` (English, for machines) and ``text`` (the requester's language, for people)."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, /, **params: Any) -> Msg:
        text = super().__new__(cls, _format(msgid, params))
        text.msgid = msgid
        text.params = params
        return text

    def render(self, locale: str | None) -> str:
        """In ``locale``; a parameter that renders itself (a ``Msg``, a ``labels.Label``) does so in it too."""
        params = {k: v.render(locale) if callable(getattr(v, "render", None)) else v for k, v in self.params.items()}
        return translator(locale).gettext(self.msgid, **params)

    def __reduce__(self) -> Any:
        return (_msg, (self.msgid, self.params))


def _msg(msgid: str, params: dict[str, Any]) -> Msg:
    return Msg(msgid, **params)


def render(text: str, locale: str | None) -> str:
    """``text`` for a reader of ``locale``: a ``Msg`` translated, any other text as it is."""
    return text.render(locale) if isinstance(text, Msg) else text


def messages(locale: str | None) -> dict[str, str | list[str]]:
    """Every translated message of ``locale``: msgid -> text; a plural entry -> its forms (the console's scripts
    get this from ``GET /api/i18n``)."""
    out: dict[str, str | list[str]] = {}
    for message in po_catalog(check_locale(locale)):
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, tuple | list):
            forms = [str(s) for s in message.string] if isinstance(message.string, tuple | list) else []
            if all(forms):
                out[str(message.id[0])] = forms
        elif message.string:
            out[str(message.id)] = str(message.string)
    return out


def msgids(locale: str) -> Iterable[str]:
    """The (singular) msgids of the ``.po`` file of ``locale``."""
    for message in po_catalog(locale):
        if message.id:
            yield str(message.id[0]) if isinstance(message.id, tuple | list) else str(message.id)
