"""The admin API for tenants (``/api/admin/tenants``): list them, add one with its hotline numbers."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from uhd_telephony.accounts.models import Role
from uhd_telephony.audit.log import AuditAction
from uhd_telephony.tenant import SLUG_RULE, TENANT_LENGTH
from uhd_telephony.tenants.service import DEFAULT_REGION, DEFAULT_TIME_ZONE
from uhd_telephony.web import keys
from uhd_telephony.web.auth import client_ip, require
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.openapi import documented

ADMIN = (Role.ADMIN.value,)
Printable = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]*$")]


class HotlineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: Annotated[Printable, Field(min_length=1, max_length=40, description="any spelling; stored as E.164")]
    queue: Annotated[Printable, Field(min_length=1, max_length=128, description="the Asterisk queue it rings")]


class CreateTenantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: Annotated[Printable, Field(min_length=1, max_length=TENANT_LENGTH, description=f"new: {SLUG_RULE}")]
    name: Annotated[Printable, Field(min_length=1, max_length=200)]
    region: Annotated[Printable, Field(min_length=2, max_length=2)] = DEFAULT_REGION
    time_zone: Annotated[Printable, Field(min_length=1, max_length=64)] = DEFAULT_TIME_ZONE
    hotlines: list[HotlineIn] = Field(default_factory=list, max_length=50)


class HotlineOut(BaseModel):
    number: str
    queue: str


class TenantOut(BaseModel):
    tenant: str
    name: str
    region: str
    time_zone: str
    active: bool
    created_at: str | None
    hotlines: list[HotlineOut]
    per_agent_figures: bool = Field(
        default=False, description="the works agreement allows figures per agent (live KPIs, wallboard)"
    )


class TenantResponse(BaseModel):
    tenant: TenantOut


class TenantsResponse(BaseModel):
    tenants: list[TenantOut]


@documented("Every tenant with its hotline numbers (admin)", response=TenantsResponse, tag="admin")
async def list_tenants(request: web.Request) -> web.Response:
    await require(request, *ADMIN)
    return web.json_response({"tenants": [t.to_dict() for t in await request.app[keys.TENANTS].list_all()]})


@documented("Add a tenant with its hotline numbers (admin)", body=CreateTenantBody, response=TenantResponse,
            status=201, errors=(409,), tag="admin")  # fmt: skip
async def add_tenant(request: web.Request) -> web.Response:
    who = await require(request, *ADMIN)
    body = CreateTenantBody.model_validate(await read_json(request))
    view = await request.app[keys.TENANTS].add(
        body.tenant,
        name=body.name,
        region=body.region,
        time_zone=body.time_zone,
        hotlines=[(h.number, h.queue) for h in body.hotlines],
    )
    await request.app[keys.AUDIT].write(
        AuditAction.TENANT_ADDED,
        actor=who.username,
        target=f"tenant:{view.tenant}",
        ip=client_ip(request),
        details={"hotlines": [h.to_dict() for h in view.hotlines]},
    )
    return web.json_response({"tenant": view.to_dict()}, status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/admin/tenants", list_tenants)
    app.router.add_post("/api/admin/tenants", add_tenant)
