"""The data-protection routes of one tenant: its retention periods (read with what goes when, set), the erasure
of one person (Art. 17 GDPR, with a dry run) and the export of one person's data (Art. 15).

Who: ``PRIVACY_ROLES`` (admins; a tenant's data-protection officer role joins here), always through the path's
tenant (``require_in_tenant``: another tenant's is 404). A person is named in the body, never in the URL (URLs end up
in access logs).
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from uhd_telephony.audit.log import AuditAction
from uhd_telephony.privacy.classes import CLASS_CODES, MAX_DAYS
from uhd_telephony.privacy.periods import Periods
from uhd_telephony.privacy.person import selector
from uhd_telephony.privacy.retention import Retention
from uhd_telephony.privacy.service import PersonData
from uhd_telephony.web import keys
from uhd_telephony.web.auth import client_ip, require_in_tenant
from uhd_telephony.web.inputs import read_json
from uhd_telephony.web.openapi import documented
from uhd_telephony.web.roles import Role

# who sets the periods: the installation's admins; who reads them and handles a person's requests (Art. 15, 17): the
# admins and the tenant's data-protection officer
ADMIN_ROLES: tuple[str, ...] = (Role.ADMIN.value,)
PRIVACY_ROLES: tuple[str, ...] = (Role.ADMIN.value, Role.DPO.value)
PERIODS: web.AppKey[Periods] = web.AppKey("privacy_periods", Periods)
RETENTION: web.AppKey[Retention] = web.AppKey("privacy_retention", Retention)
PERSONS: web.AppKey[PersonData] = web.AppKey("privacy_persons", PersonData)


class PeriodOut(BaseModel):
    data_class: str
    days: int
    default_days: int
    minimum_days: int
    action: str
    per_tenant: bool
    where: str
    set_by: str | None
    set_at: str | None


class DueOut(BaseModel):
    tenant: str
    data_class: str
    days: int
    action: str
    cutoff: str
    count: int = Field(description="rows (ticket requesters: people) that go at the next run")
    oldest: str | None
    done: bool


class RetentionResponse(BaseModel):
    periods: list[PeriodOut]
    due: list[DueOut]


class PeriodBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_class: Annotated[str, Field(json_schema_extra={"enum": list(CLASS_CODES)})]
    days: Annotated[StrictInt | None, Field(ge=0, le=MAX_DAYS, description="null: back to the default")]


class PeriodResponse(BaseModel):
    period: PeriodOut


class PersonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: Annotated[str | None, Field(default=None, min_length=1, max_length=64)]
    email: Annotated[str | None, Field(default=None, min_length=3, max_length=254)]
    user_id: Annotated[StrictInt | None, Field(default=None, ge=1, le=2**63 - 1)]


class ErasureBody(PersonBody):
    dry_run: StrictBool = False


class ErasureResponse(BaseModel):
    erased: bool
    counts: dict[str, int]


class ExportResponse(BaseModel):
    tenant: str
    selector: str
    places: dict[str, list[dict[str, Any]]]


@documented("A tenant's retention periods and what goes at the next run (admin, DPO)", response=RetentionResponse,
            tag="admin")  # fmt: skip
async def get_retention(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *PRIVACY_ROLES)
    found = await request.app[PERIODS].of(tenant)
    due = await request.app[RETENTION].plan([tenant])
    return web.json_response({"periods": [p.to_dict() for p in found], "due": [d.to_dict() for d in due]})


@documented("Set a tenant's retention period of one data class (admin)", body=PeriodBody, response=PeriodResponse,
            tag="admin")  # fmt: skip
async def set_retention(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *ADMIN_ROLES)
    body = PeriodBody.model_validate(await read_json(request))
    period = await request.app[PERIODS].set(tenant, body.data_class, body.days, who.username)
    await request.app[keys.AUDIT].write(
        AuditAction.RETENTION_SET, actor=who.username, target=f"tenant:{tenant}", ip=client_ip(request),
        details={"data_class": body.data_class, "days": body.days}, tenant=tenant,
    )  # fmt: skip
    return web.json_response({"period": period.to_dict()})


@documented("Erase one person's data in a tenant (Art. 17 GDPR; dry_run: only the places and counts) (admin, DPO)",
            body=ErasureBody, response=ErasureResponse, tag="admin")  # fmt: skip
async def erase_person(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *PRIVACY_ROLES)
    body = ErasureBody.model_validate(await read_json(request))
    person = selector(number=body.number, email=body.email, user_id=body.user_id)
    found = await request.app[PERSONS].erase(
        tenant, person, actor=who.username, ip=client_ip(request), dry_run=body.dry_run
    )
    return web.json_response({"erased": not body.dry_run, "counts": found})


@documented("Everything stored about one person in a tenant (Art. 15 GDPR); the read is audited (admin, DPO)",
            body=PersonBody, response=ExportResponse, tag="admin")  # fmt: skip
async def export_person(request: web.Request) -> web.Response:
    who, tenant = await require_in_tenant(request, *PRIVACY_ROLES)
    body = PersonBody.model_validate(await read_json(request))
    person = selector(number=body.number, email=body.email, user_id=body.user_id)
    found = await request.app[PERSONS].export(tenant, person, actor=who.username, ip=client_ip(request))
    return web.json_response(found)


def add_routes(app: web.Application) -> None:
    base = "/api/tenants/{tenant}/privacy"
    app.router.add_get(base + "/retention", get_retention)
    app.router.add_put(base + "/retention", set_retention)
    app.router.add_post(base + "/erasures", erase_person)
    app.router.add_post(base + "/exports", export_person)
