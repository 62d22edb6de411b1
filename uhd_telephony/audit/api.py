"""The tenant's audit log for its data-protection officer: ``GET /api/tenants/{tenant}/audit``.

Who read whose data when (``audit.reads``: requester details of tickets, call records), the works agreement's
switches of figures per agent, and whatever else names the tenant (``audit_log.tenant``). Readers: the tenant's
data-protection officer (role ``dpo``) and the operator's admins; another tenant is 404 (``require_in_tenant``).
Filters: a period (``from``/``to``: Berlin days or instants, at most a year), the actor (a username), a data subject
(``data_subject``: ``ticket:12``, ``person:345``, ``call:<linkedid>``), the action; newest first, page by page.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from uhd_telephony.audit.log import MAX_PAGE, AuditAction
from uhd_telephony.audit.reads import SUBJECT_PATTERN, TenantFilter, tenant_page
from uhd_telephony.errors import InvalidInput
from uhd_telephony.i18n import Msg
from uhd_telephony.web import keys
from uhd_telephony.web.auth import require_in_tenant
from uhd_telephony.web.inputs import period
from uhd_telephony.web.openapi import documented, single_query
from uhd_telephony.web.roles import Role

AUDIT_ROLES = (Role.DPO.value, Role.ADMIN.value)
LONGEST = timedelta(days=366)


class TenantAuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: Annotated[str | None, Field(alias="from", max_length=40, description="a day or instant (Berlin)")] = None
    to: Annotated[str | None, Field(max_length=40, description="a day (included) or instant (excluded)")] = None
    actor: Annotated[str | None, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")] = None
    data_subject: Annotated[str | None, Field(max_length=80, pattern=SUBJECT_PATTERN)] = Field(
        default=None, description="ticket:<id>, person:<directory id>, call:<linkedid>, account:<id>"
    )
    action: AuditAction | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    before: int | None = Field(default=None, ge=1, le=2**63 - 1, description="next_before of the previous page")


class TenantAuditEntryOut(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    target: str | None
    ip: str | None
    details: dict[str, Any] = Field(description="reads: subjects (whose data) and count")


class TenantAuditResponse(BaseModel):
    tenant: str
    entries: list[TenantAuditEntryOut]
    next_before: int | None


def _filter(query: TenantAuditQuery) -> TenantFilter:
    since = until = None
    if (query.from_ is None) != (query.to is None):
        raise InvalidInput(Msg("give both from and to, or neither"), {"field": "from" if query.from_ else "to"})
    if query.from_ is not None and query.to is not None:
        since, until = period(query.from_, query.to, LONGEST)
    action = None if query.action is None else query.action.value
    return TenantFilter(since=since, until=until, actor=query.actor, subject=query.data_subject, action=action)


@documented("The tenant's audit log: who read whose data when (data-protection officer, admin)",
            query=TenantAuditQuery, response=TenantAuditResponse, errors=(400,), tag="privacy")  # fmt: skip
async def tenant_audit(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *AUDIT_ROLES)
    query = single_query(request, TenantAuditQuery)
    page = await tenant_page(request.app[keys.DB], tenant, _filter(query), limit=query.limit, before=query.before)
    entries = [e.to_dict() for e in page.entries]
    return web.json_response({"tenant": tenant, "entries": entries, "next_before": page.next_before})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/tenants/{tenant}/audit", tenant_audit)
