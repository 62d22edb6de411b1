"""The admin API for accounts (``/api/admin/accounts…``): create, list, change role/tenants, deactivate.

Admins only, by login (API tokens are refused here); every change is written to the audit log. An admin cannot
demote or deactivate itself (the last admin could otherwise lock everyone out of the admin API).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from uhd_telephony.accounts.models import Role
from uhd_telephony.accounts.service import AccountView
from uhd_telephony.audit.log import AuditAction
from uhd_telephony.errors import Conflict, InvalidInput
from uhd_telephony.i18n import Msg
from uhd_telephony.tenant import TenantName
from uhd_telephony.web import keys
from uhd_telephony.web.auth import Principal, client_ip, require
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.openapi import documented

ADMIN = (Role.ADMIN.value,)
RoleName = Literal["admin", "agent", "manager", "partner", "dpo"]
LocaleName = Literal["de", "en"]  # uhd_telephony.i18n.LOCALES


def _storable(value: str | None) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        raise ValueError(Msg("must not contain a NUL character"))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(Msg("must be valid Unicode")) from None
    return value


Short = Annotated[str, Field(max_length=200), AfterValidator(_storable)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateAccountBody(Body):
    username: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_storable)]
    password: Annotated[str | None, Field(min_length=8, max_length=1024)] = Field(
        default=None, description="omitted: a random one nobody knows (partner and service accounts use tokens)"
    )
    display_name: Short | None = None
    role: RoleName = "agent"
    tenants: list[TenantName] = Field(default_factory=list, max_length=100)
    interface: Annotated[str | None, Field(max_length=128), AfterValidator(_storable)] = None
    member_name: Short | None = None
    phone_channel: Annotated[str | None, Field(max_length=128), AfterValidator(_storable)] = None
    partner_group: Annotated[str | None, Field(max_length=64), AfterValidator(_storable)] = Field(
        default=None, description="a partner's support group, partner:<firm>"
    )
    locale: LocaleName = Field(default="de", description="the language of its pages and answers")


class ChangeAccountBody(Body):
    role: RoleName | None = None
    tenants: list[TenantName] | None = Field(default=None, max_length=100)
    partner_group: Annotated[str | None, Field(max_length=64), AfterValidator(_storable)] = None
    display_name: Annotated[str | None, Field(min_length=1, max_length=200), AfterValidator(_storable)] = None
    active: bool | None = None
    locale: LocaleName | None = None

    @model_validator(mode="after")
    def _something(self) -> ChangeAccountBody:
        if not self.model_fields_set:
            raise ValueError(Msg("give at least one of role, tenants, partner_group, display_name, active, locale"))
        return self


class AdminAccountOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: RoleName
    active: bool
    tenants: list[str]
    interface: str | None
    member_name: str | None
    phone_channel: str | None
    created_at: str | None
    last_login_at: str | None
    partner_group: str | None
    locale: LocaleName
    confidentiality_version: int | None = Field(description="the § 203 StGB text it acknowledged last; null: never")
    confidentiality_at: str | None


class AdminAccountResponse(BaseModel):
    account: AdminAccountOut


class AdminAccountsResponse(BaseModel):
    accounts: list[AdminAccountOut]


def _account_id(request: web.Request) -> int:
    return int(request.match_info["account_id"])  # the route pattern admits 1..18 digits only


def target(account: AccountView) -> str:
    return f"account:{account.id} {account.username}"


async def check_known_tenants(request: web.Request, tenants: list[str]) -> None:
    """Tenants an admin grants must exist in the tenants table (a typo would grant a tenant nobody has)."""
    known = {t.tenant for t in await request.app[keys.TENANTS].list_all()}
    unknown = sorted(set(tenants) - known)
    if unknown:
        raise InvalidInput(
            Msg("unknown tenant(s): add them first (POST /api/admin/tenants)"), {"field": "tenants", "unknown": unknown}
        )


async def _audit(
    request: web.Request, who: Principal, action: AuditAction, account: AccountView, **details: Any
) -> None:
    await request.app[keys.AUDIT].write(
        action, actor=who.username, target=target(account), ip=client_ip(request), details=details
    )


@documented("Create an account (admin)", body=CreateAccountBody, response=AdminAccountResponse, status=201,
            errors=(409,), tag="admin")  # fmt: skip
async def create_account(request: web.Request) -> web.Response:
    who = await require(request, *ADMIN)
    body = CreateAccountBody.model_validate(await read_json(request))
    await check_known_tenants(request, body.tenants)
    view = await request.app[keys.ACCOUNTS].create(
        body.username,
        body.password if body.password is not None else secrets.token_urlsafe(32),
        display_name=body.display_name,
        role=body.role,
        tenants=body.tenants,
        interface=body.interface,
        member_name=body.member_name,
        phone_channel=body.phone_channel,
        partner_group=body.partner_group,
        locale=body.locale,
    )
    await _audit(
        request, who, AuditAction.ACCOUNT_CREATED, view, role=view.role, tenants=list(view.tenants),
        partner_group=view.partner_group,
    )  # fmt: skip
    return web.json_response(
        {"account": view.to_dict()}, status=201, headers={"Location": f"/api/admin/accounts/{view.id}"}
    )


@documented("Every account (admin)", response=AdminAccountsResponse, tag="admin")
async def list_accounts(request: web.Request) -> web.Response:
    await require(request, *ADMIN)
    return web.json_response({"accounts": [a.to_dict() for a in await request.app[keys.ACCOUNTS].list_all()]})


@documented("One account (admin)", response=AdminAccountResponse, tag="admin")
async def get_account(request: web.Request) -> web.Response:
    await require(request, *ADMIN)
    view = await request.app[keys.ACCOUNTS].get(_account_id(request))
    return web.json_response({"account": view.to_dict()})


@documented("Change an account's role, tenants, partner group, name, language or active flag (admin)",
            body=ChangeAccountBody,
            response=AdminAccountResponse, errors=(409,), tag="admin")  # fmt: skip
async def change_account(request: web.Request) -> web.Response:
    who = await require(request, *ADMIN)
    account_id = _account_id(request)
    body = ChangeAccountBody.model_validate(await read_json(request))
    if account_id == who.account_id and ((body.role is not None and body.role != who.role) or body.active is False):
        raise Conflict(Msg("an admin cannot demote or deactivate itself"), {"account_id": account_id})
    if body.tenants is not None:
        await check_known_tenants(request, body.tenants)
    before, after = await request.app[keys.ACCOUNTS].change(
        account_id,
        role=body.role,
        tenants=body.tenants,
        partner_group=body.partner_group,
        display_name=body.display_name,
        active=body.active,
        locale=body.locale,
    )
    await _changes(request, who, before, after)
    return web.json_response({"account": after.to_dict()})


async def _changes(request: web.Request, who: Principal, before: AccountView, after: AccountView) -> None:
    if (before.role, before.partner_group) != (after.role, after.partner_group):
        await _audit(
            request, who, AuditAction.ROLE_CHANGED, after, **{"from": before.role, "to": after.role},
            partner_group=after.partner_group,
        )  # fmt: skip
    if before.tenants != after.tenants:
        change = {"from": list(before.tenants), "to": list(after.tenants)}
        await _audit(request, who, AuditAction.TENANTS_CHANGED, after, **change)
    if before.active != after.active:
        action = AuditAction.ACCOUNT_DEACTIVATED if not after.active else AuditAction.ACCOUNT_REACTIVATED
        await _audit(request, who, action, after)


@documented("Deactivate an account: no more logins, sessions and tokens refused at once (admin)",
            response=AdminAccountResponse, errors=(409,), tag="admin")  # fmt: skip
async def deactivate_account(request: web.Request) -> web.Response:
    who = await require(request, *ADMIN)
    account_id = _account_id(request)
    if account_id == who.account_id:
        raise Conflict(Msg("an admin cannot deactivate itself"), {"account_id": account_id})
    before, after = await request.app[keys.ACCOUNTS].change(account_id, active=False)
    await _changes(request, who, before, after)
    return web.json_response({"account": after.to_dict()})


def add_routes(app: web.Application) -> None:
    one = "/api/admin/accounts/{account_id:\\d{1,18}}"
    app.router.add_get("/api/admin/accounts", list_accounts)
    app.router.add_post("/api/admin/accounts", create_account)
    app.router.add_get(one, get_account)
    app.router.add_patch(one, change_account)
    app.router.add_post(one + "/deactivate", deactivate_account)
