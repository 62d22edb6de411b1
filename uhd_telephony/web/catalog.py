"""``GET /api/i18n``: the UI's messages for the console's scripts (``static/i18n.js``), from the same ``.po``
catalogs the server speaks (``uhd_telephony.i18n``). Public: the login page needs it before anyone is logged in.

The language is ``?locale=`` when given, else the logged-in account's, else the browser's ``Accept-Language``
among the UI's languages, else German.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from uhd_telephony.i18n import LOCAL_TZ_NAME, messages
from uhd_telephony.i18n.catalog import BABEL_LOCALES
from uhd_telephony.web.auth import authenticate
from uhd_telephony.web.locale import request_locale
from uhd_telephony.web.openapi import documented, single_query


class CatalogQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    locale: Literal["de", "en"] | None = Field(default=None, description="omitted: the account's, else the browser's")


class CatalogResponse(BaseModel):
    locale: Literal["de", "en"]
    tag: str = Field(description="the BCP 47 tag to format dates and numbers with (Intl): de-DE, en-GB")
    time_zone: str = Field(description="the time zone every time is shown in: Europe/Berlin")
    messages: dict[str, str | list[str]] = Field(description="msgid -> text; a plural msgid -> its forms")


@cache
def _body(locale: str) -> str:
    tag = BABEL_LOCALES[locale].replace("_", "-")
    return json.dumps(
        {"locale": locale, "tag": tag, "time_zone": LOCAL_TZ_NAME, "messages": messages(locale)}, ensure_ascii=False
    )


@documented("The UI's messages in one language, for the pages' scripts", query=CatalogQuery,
            response=CatalogResponse, public=True, tag="session")  # fmt: skip
async def catalog(request: web.Request) -> web.Response:
    query = single_query(request, CatalogQuery)
    if query.locale is None:
        await authenticate(request)  # the account's language, when someone is logged in
    locale = query.locale or request_locale(request)
    return web.Response(text=_body(locale), content_type="application/json")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/i18n", catalog)
