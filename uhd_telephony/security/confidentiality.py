"""The confidentiality acknowledgement (§ 203 StGB) as the login flow shows it: the page ``/confidentiality`` and
``GET``/``POST /api/me/confidentiality``.

A session of an account that has not acknowledged the current text (``accounts.confidentiality``) can do nothing
else: every page sends it here first (``web.pages.page_principal``), every other API route answers 403
``confidentiality-not-acknowledged`` (``web.auth.require``). API tokens are not asked: a program cannot read a
text; the admin who made the token is bound (the admin API waits for the acknowledgement like every other route).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from uhd_telephony.accounts import confidentiality
from uhd_telephony.security.login import account_json
from uhd_telephony.web import keys
from uhd_telephony.web.auth import PRINCIPAL, client_ip, principal, require, session_principal
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.openapi import AccountResponse, documented
from uhd_telephony.web.pages import CONFIDENTIALITY_PAGE, STATIC, to_login


class ConfidentialityText(BaseModel):
    de: str
    en: str


class ConfidentialityResponse(BaseModel):
    version: int = Field(description="the text's version: acknowledge it by this number")
    text: ConfidentialityText = Field(description="German (binding) and English")
    acknowledged: bool
    acknowledged_version: int | None = Field(description="the version this account acknowledged last, if any")
    acknowledged_at: str | None


class AcknowledgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: StrictInt = Field(ge=1, le=1_000_000, description="the version of the text read (GET answers it)")


@documented("The confidentiality obligation (§ 203 StGB) and whether you have acknowledged it",
            response=ConfidentialityResponse, tag="session")  # fmt: skip
async def get_text(request: web.Request) -> web.Response:
    who = await require(request)  # a session (tokens are refused: not in TOKEN_ROUTES)
    account = await request.app[keys.ACCOUNTS].get(who.account_id)
    at = account.to_dict()["confidentiality_at"]
    body = {
        **confidentiality.document(),
        "acknowledged": account.acknowledged,
        "acknowledged_version": account.confidentiality_version,
        "acknowledged_at": at,
    }
    return web.json_response(body)


@documented("Acknowledge the confidentiality obligation (§ 203 StGB): recorded with its version and time",
            body=AcknowledgeBody, response=AccountResponse, errors=(409,), tag="session")  # fmt: skip
async def acknowledge(request: web.Request) -> web.Response:
    who = await require(request)
    body = AcknowledgeBody.model_validate(await read_json(request))
    account = await request.app[keys.ACCOUNTS].acknowledge_confidentiality(
        who.account_id, body.version, ip=client_ip(request)
    )
    now = session_principal(account, who.csrf)
    request[PRINCIPAL] = now
    features: frozenset[str] = request.app.get(keys.FEATURES, frozenset())
    return web.json_response({"account": await account_json(request, now), "features": sorted(features)})


async def page(request: web.Request) -> web.StreamResponse:
    """The acknowledgement page; for an anonymous visitor the login first (and back here)."""
    if await principal(request) is None:
        raise to_login(request)
    return web.FileResponse(STATIC / "confidentiality.html")


def add_routes(app: web.Application) -> None:
    app.router.add_get(CONFIDENTIALITY_PAGE, page)
    app.router.add_get("/api/me/confidentiality", get_text)
    app.router.add_post("/api/me/confidentiality", acknowledge)
