"""The language of a request's answer: the account's (``Principal.locale``), else the browser's
``Accept-Language`` among the UI's languages, else German. Error texts, the catalog of the console's scripts
(``GET /api/i18n``) and server-rendered texts (a ticket's history) ask here."""

from __future__ import annotations

from aiohttp import web

from uhd_telephony.i18n import is_locale, negotiate

PRINCIPAL = "uhd.principal"  # where a request keeps who it is, once found (web.auth)


def request_locale(request: web.Request) -> str:
    """``de`` or ``en``: the logged-in account's language once ``web.auth`` found it, else ``Accept-Language``."""
    locale = getattr(request.get(PRINCIPAL), "locale", None)
    if is_locale(locale):
        return str(locale)
    return negotiate(request.headers.get("Accept-Language"))
