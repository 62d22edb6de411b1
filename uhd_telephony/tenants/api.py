"""The admin API for tenants (``/api/admin/tenants``): list them, add one with its hotline numbers, switch its
figures per agent under its works agreement (``tenants.works_agreement``), set its KPI contract
(``tenants.contract``)."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from uhd_telephony.accounts.models import Role
from uhd_telephony.audit.log import AuditAction
from uhd_telephony.tenant import SLUG_RULE, TENANT_LENGTH
from uhd_telephony.tenants.contract import contracts, set_contract
from uhd_telephony.tenants.models import REFERENCE_MAX
from uhd_telephony.tenants.service import DEFAULT_REGION, DEFAULT_TIME_ZONE
from uhd_telephony.tenants.works_agreement import set_per_agent_figures, works_agreement
from uhd_telephony.web import keys
from uhd_telephony.web.auth import client_ip, require, require_tenant
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.locale import request_locale
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


class WorksAgreementBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_agent_figures: StrictBool = Field(description="true: the works agreement allows figures per agent")
    reference: Annotated[Printable | None, Field(max_length=REFERENCE_MAX)] = Field(
        default=None, description='the agreement\'s reference, e.g. "BV 2026-03 IT-Helpdesk": required to enable'
    )


class ChangeOut(BaseModel):
    per_agent_figures: bool
    reference: str | None
    changed_by: str
    changed_at: str


class WorksAgreementResponse(BaseModel):
    tenant: str
    per_agent_figures: bool
    current: ChangeOut | None = Field(description="the change in force: who, when, which agreement; null: never on")
    history: list[ChangeOut] = Field(description="newest first, the last 50")


@documented("A tenant's figures per agent and the works agreement's record (admin)", response=WorksAgreementResponse,
            tag="admin")  # fmt: skip
async def get_works_agreement(request: web.Request) -> web.Response:
    who = await require(request, *ADMIN)
    tenant = require_tenant(who, request.match_info["tenant"])
    return web.json_response((await works_agreement(request.app[keys.DB], tenant)).to_dict())


@documented("Switch a tenant's figures per agent on (with the works agreement's reference) or off (admin)",
            body=WorksAgreementBody, response=WorksAgreementResponse, tag="admin")  # fmt: skip
async def put_works_agreement(request: web.Request) -> web.Response:
    who = await require(request, *ADMIN)
    tenant = require_tenant(who, request.match_info["tenant"])
    body = WorksAgreementBody.model_validate(await read_json(request))
    done = await set_per_agent_figures(
        request.app[keys.DB], tenant, body.per_agent_figures, reference=body.reference, actor=who.username,
        ip=client_ip(request),
    )  # fmt: skip
    return web.json_response(done.to_dict())


class KpiContractBody(BaseModel):
    """A contract's KPI rules from ``valid_from`` (checked by ``tenants.contract.check_rules``: the 1st of a month,
    thresholds in range, queue names); fields left out take the standard definitions."""

    model_config = ConfigDict(extra="forbid")
    valid_from: Annotated[str, Field(min_length=10, max_length=10, description="the 1st of a month, 2027-01-01")]
    service_level_s: float | None = Field(default=None, description="T of 'answered within T' (default 20)")
    short_abandon_s: float | None = Field(default=None, description="an abandon before this wait is short (5)")
    abandons_in_service_level: StrictBool | None = Field(default=None, description="abandons in the SL base (true)")
    short_abandons_in_base: StrictBool | None = Field(default=None, description="short abandons in the base (false)")
    outside_hours_count: StrictBool | None = Field(default=None, description="calls outside hours count (false)")
    queues: list[Annotated[str, Field(max_length=128)]] | None = Field(
        default=None, max_length=200, description="only these queues count (null: all of the tenant's)"
    )
    callback_window_s: float | None = Field(default=None, description="business seconds to reach a caller back")
    reference: Annotated[Printable | None, Field(max_length=REFERENCE_MAX)] = Field(
        default=None, description='the contract\'s reference, e.g. "Vertrag 2027-01 Anlage 3"'
    )
    force: StrictBool = Field(default=False, description="change the rules of a month that has already begun")


class KpiRulesOut(BaseModel):
    """``tenants.contract.KpiRules.to_dict()``: how the contract defines the KPIs (valid_from null: no contract);
    the KPI API (``metrics.api``) answers with it too."""

    model_config = ConfigDict(extra="forbid")
    valid_from: str | None
    service_level_s: float
    short_abandon_s: float
    abandons_in_service_level: bool
    short_abandons_in_base: bool
    outside_hours_count: bool
    queues: list[str] | None
    callback_window_s: float
    reference: str | None


class KpiContractRowOut(KpiRulesOut):
    """One contract row as the admin API lists it: the rules, who changed them when, and the rules in words."""

    changed_by: str | None
    changed_at: str | None
    text: str = Field(description="the rules in words, in the reader's language")


class KpiContractResponse(BaseModel):
    tenant: str
    in_force: KpiContractRowOut = Field(description="the rules in force today (valid_from null: the standard ones)")
    history: list[KpiContractRowOut] = Field(description="every contract row, newest first")


@documented("A tenant's KPI contracts: the rules in force and every row from its month on (admin)",
            response=KpiContractResponse, tag="admin")  # fmt: skip
async def get_kpi_contract(request: web.Request) -> web.Response:
    who = await require(request, *ADMIN)
    tenant = require_tenant(who, request.match_info["tenant"])
    found = await contracts(request.app[keys.DB], tenant)
    return web.json_response(found.to_dict(request_locale(request)))


@documented("Set a tenant's KPI rules from the 1st of a month (a month already begun only with force; admin)",
            body=KpiContractBody, response=KpiContractResponse, tag="admin")  # fmt: skip
async def put_kpi_contract(request: web.Request) -> web.Response:
    who = await require(request, *ADMIN)
    tenant = require_tenant(who, request.match_info["tenant"])
    body = KpiContractBody.model_validate(await read_json(request))
    values = body.model_dump(exclude={"force"}, exclude_none=True)
    done = await set_contract(
        request.app[keys.DB], tenant, values, actor=who.username, force=body.force, ip=client_ip(request)
    )
    return web.json_response(done.to_dict(request_locale(request)))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/admin/tenants", list_tenants)
    app.router.add_post("/api/admin/tenants", add_tenant)
    app.router.add_get("/api/admin/tenants/{tenant}/works-agreement", get_works_agreement)
    app.router.add_put("/api/admin/tenants/{tenant}/works-agreement", put_works_agreement)
    app.router.add_get("/api/admin/tenants/{tenant}/kpi-contract", get_kpi_contract)
    app.router.add_put("/api/admin/tenants/{tenant}/kpi-contract", put_kpi_contract)
