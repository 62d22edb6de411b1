"""The admin API for API tokens and the audit log: make and revoke tokens, read the log page by page."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from uhd_telephony.accounts.models import Role
from uhd_telephony.audit.log import MAX_PAGE, AuditAction
from uhd_telephony.security.tokens import MAX_DAYS
from uhd_telephony.tenant import TenantName
from uhd_telephony.web import keys
from uhd_telephony.web.auth import client_ip, require
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.openapi import documented, single_query
from uhd_telephony.web.permissions import SCOPES

ADMIN = (Role.ADMIN.value,)


class CreateTokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]*$")]
    scopes: list[Annotated[str, Field(max_length=40)]] = Field(
        min_length=1, max_length=10, description=f"of {', '.join(sorted(SCOPES))}; a partner's only tickets:*"
    )
    tenants: list[TenantName] = Field(
        default_factory=list, max_length=100, description="within the account's; empty: all of the account's"
    )
    expires_in_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)


class TokenOut(BaseModel):
    id: int
    account_id: int
    name: str
    scopes: list[str]
    tenants: list[str]
    created_at: str | None
    created_by: str | None
    last_used_at: str | None
    expires_at: str | None
    revoked_at: str | None


class TokenResponse(BaseModel):
    token: TokenOut


class IssuedTokenResponse(BaseModel):
    token: TokenOut
    secret: str = Field(description="the bearer token, uhd_<id>_<secret>: shown this once, never again")


class TokensResponse(BaseModel):
    tokens: list[TokenOut]


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    before: int | None = Field(default=None, ge=1, le=2**63 - 1, description="next_before of the previous page")
    action: AuditAction | None = None


class AuditEntryOut(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    target: str | None
    ip: str | None
    details: dict[str, Any]


class AuditPageResponse(BaseModel):
    entries: list[AuditEntryOut]
    next_before: int | None


def _int(request: web.Request, name: str) -> int:
    return int(request.match_info[name])  # the route pattern admits 1..18 digits only


@documented("The account's API tokens, without their secrets (admin)", response=TokensResponse, tag="admin")
async def list_tokens(request: web.Request) -> web.Response:
    await require(request, *ADMIN)
    account = await request.app[keys.ACCOUNTS].get(_int(request, "account_id"))
    tokens = await request.app[keys.TOKENS].list_for(account.id)
    return web.json_response({"tokens": [t.to_dict() for t in tokens]})


@documented("Make an API token for a partner or service account; its secret is in this answer only (admin)",
            body=CreateTokenBody, response=IssuedTokenResponse, status=201, errors=(409,), tag="admin")  # fmt: skip
async def create_token(request: web.Request) -> web.Response:
    who = await require(request, *ADMIN)
    body = CreateTokenBody.model_validate(await read_json(request))
    issued = await request.app[keys.TOKENS].create(
        _int(request, "account_id"),
        name=body.name,
        scopes=body.scopes,
        tenants=body.tenants,
        expires_in_days=body.expires_in_days,
        created_by=who.username,
    )
    view = issued.view
    await request.app[keys.AUDIT].write(
        AuditAction.TOKEN_CREATED,
        actor=who.username,
        target=f"token:{view.id} account:{view.account_id}",
        ip=client_ip(request),
        details={"name": view.name, "scopes": list(view.scopes), "tenants": list(view.tenants)},
    )
    return web.json_response({"token": view.to_dict(), "secret": issued.secret}, status=201)


@documented("Revoke an API token: the next request with it is refused (admin)", response=TokenResponse, tag="admin")
async def revoke_token(request: web.Request) -> web.Response:
    who = await require(request, *ADMIN)
    view, was_live = await request.app[keys.TOKENS].revoke(_int(request, "token_id"))
    if was_live:
        await request.app[keys.AUDIT].write(
            AuditAction.TOKEN_REVOKED,
            actor=who.username,
            target=f"token:{view.id} account:{view.account_id}",
            ip=client_ip(request),
            details={"name": view.name},
        )
    return web.json_response({"token": view.to_dict()})


@documented("The audit log, newest first, page by page (admin)", query=AuditQuery, response=AuditPageResponse,
            tag="admin")  # fmt: skip
async def audit_log(request: web.Request) -> web.Response:
    await require(request, *ADMIN)
    query = single_query(request, AuditQuery)
    page = await request.app[keys.AUDIT].page(
        limit=query.limit, before=query.before, action=None if query.action is None else query.action.value
    )
    return web.json_response({"entries": [e.to_dict() for e in page.entries], "next_before": page.next_before})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/admin/accounts/{account_id:\\d{1,18}}/tokens", list_tokens)
    app.router.add_post("/api/admin/accounts/{account_id:\\d{1,18}}/tokens", create_token)
    app.router.add_delete("/api/admin/tokens/{token_id:\\d{1,18}}", revoke_token)
    app.router.add_get("/api/admin/audit", audit_log)
