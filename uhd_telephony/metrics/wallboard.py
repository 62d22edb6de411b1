"""The live KPI page (``/kpis``), the wallboard (``/wallboard``) and the wallboard's figures.

``/kpis``: today's call and ticket KPIs per tenant, refreshed every few seconds. A static page; its figures come
from the JSON API the same session may read — ``GET /api/tenants/{tenant}/kpis`` (``metrics.api``: one definition
with ``/metrics`` and the monthly report), ``GET /api/tenants/{tenant}/wallboard`` (the day hour by hour, the
queues now) and, for managers, the open escalations. Who may open it is who may read the KPI API with a session:
agents, managers (the helpdesk lead, the customer's IT management) and admins; a partner or an API token gets the
login page, like every page.

``/wallboard``: the same day for a big screen across the room (large figures, refreshed by itself). The page is a
static shell anyone may load; its figures come from ``GET /api/tenants/{tenant}/wallboard`` with the session of
whoever is logged in there, or with a read-only ``wallboard:read`` token put in the address's fragment
(``/wallboard#token=uhd_…``: a browser never sends a fragment anywhere) — the one route such a token opens.

``GET /api/tenants/{tenant}/wallboard?day=YYYY-MM-DD`` (default today, Europe/Berlin): the day's call KPIs and its
24 hours (offered, answered, abandoned, service level in the hour and through the day: ``metrics.today``, by the
definitions of ``kpi``), the queues now (callers waiting, the longest wait, agents ready, paused, on a call:
``MetricsService.tenant_now``; null in a process without live call tracking) and, only where the tenant's works
agreement allows figures per agent (``tenants.per_agent_figures``), a row per agent — otherwise ``agents`` is null
and no agent's figure is in the answer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from uhd_telephony.errors import Forbidden, InvalidInput, NotFound
from uhd_telephony.i18n import Msg
from uhd_telephony.metrics import kpi, queries, today
from uhd_telephony.metrics.api import KPI_ROLES, CallKpisOut, NowOut
from uhd_telephony.web import keys
from uhd_telephony.web.auth import require_in_tenant
from uhd_telephony.web.inputs import representable
from uhd_telephony.web.openapi import documented, single_query
from uhd_telephony.web.pages import STATIC, page_principal
from uhd_telephony.web.permissions import KPI_PAGE_ROLES

_OUT = ConfigDict(extra="forbid")


class WallboardQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: str | None = Field(
        default=None, min_length=10, max_length=10, description="the day (2026-03-02, Europe/Berlin); default today"
    )


class HourOut(BaseModel):
    """One hour of the day (Europe/Berlin): the stays that entered a queue in it, as ``kpi`` counts them."""

    model_config = _OUT
    hour: int = Field(description="0..23, local time")
    offered: int
    answered: int
    abandoned: int
    short_abandons: int
    answered_within_service_level: int
    service_level: float | None = Field(description="in this hour; null when its base is 0")
    service_level_to_hour: float | None = Field(description="from midnight to the end of this hour")


class AgentsNowOut(BaseModel):
    model_config = _OUT
    logged_in: int
    ready: int
    paused: int
    on_call: int


class QueuesNowOut(NowOut):
    model_config = _OUT
    agents: AgentsNowOut = Field(description="the agents of the tenant's queues, each once")


class AgentDayOut(BaseModel):
    model_config = _OUT
    agent: str = Field(description="the agent as the queue names its member")
    answered: int
    talk_mean_s: float | None
    rings_unanswered: int = Field(description="rings the agent let run out (not: a busy phone)")


class WallboardResponse(BaseModel):
    model_config = _OUT
    tenant: str
    day: str
    timezone: str
    calls: CallKpisOut
    hours: list[HourOut]
    now: QueuesNowOut | None = Field(description="the queues at this moment (null: no live call tracking here)")
    per_agent_figures: bool = Field(description="the tenant's works agreement allows figures per agent")
    agents: list[AgentDayOut] | None = Field(description="per agent, only where per_agent_figures; else null")
    generated_at: str


async def kpi_page(request: web.Request) -> web.StreamResponse:
    who = await page_principal(request)
    if who.role not in KPI_PAGE_ROLES:
        raise Forbidden(Msg("the KPI page is for the helpdesk and its customers' management"))
    return web.FileResponse(STATIC / "kpis.html")


async def wallboard_page(request: web.Request) -> web.StreamResponse:
    """The wallboard's static shell (no data in it): its script signs in with the session or a wallboard token."""
    return web.FileResponse(STATIC / "wallboard.html")


def _day(given: str | None) -> date:
    if given is None:
        return datetime.now(kpi.TIMEZONE).date()
    try:
        day = date.fromisoformat(given)
        # its midnight and the next must have UTC instants (how the store compares): 0001-01-01 has none
        representable(datetime.combine(day, time(0)))
    except ValueError:
        message = Msg("day is an ISO date such as 2026-03-02 (0001-01-03 to 9999-12-29)")
        raise InvalidInput(message, {"field": "day"}) from None
    return day


async def _tenant_queues(request: web.Request, tenant: str) -> set[str]:
    """The queues the tenant's hotlines ring (tenants table) and those ``UHD_TENANT_QUEUES`` gives it."""
    queues = {q for q, t in request.app[keys.SETTINGS].tenant_queues.items() if t == tenant}
    try:
        queues |= {h.queue for h in (await request.app[keys.TENANTS].get(tenant)).hotlines}
    except NotFound:  # a tenant from before tenants were data
        pass
    return queues


@documented(
    "The wallboard's figures: the day hour by hour, the queues now, per agent where allowed",
    query=WallboardQuery,
    response=WallboardResponse,
    tag="kpis",
    description="By the definitions of metrics.kpi (the same figures as /kpis over the day and each hour). Agents, "
    "managers, admins; a token with wallboard:read. Per-agent figures only where the tenant allows them.",
)
async def tenant_wallboard(request: web.Request) -> web.Response:
    _, tenant = await require_in_tenant(request, *KPI_ROLES)
    query = single_query(request, WallboardQuery)
    day = _day(query.day)
    db = request.app[keys.DB]
    per_agent = await request.app[keys.TENANTS].per_agent_figures(tenant)
    calendar = await queries.tenant_calendar(db, tenant)
    figures = await today.stored_day(db, tenant, day, calendar=calendar, per_agent=per_agent)
    service = request.app.get(keys.METRICS)
    now = None if service is None else service.tenant_now(tenant, await _tenant_queues(request, tenant))
    body: dict[str, Any] = {
        "tenant": tenant,
        "day": day.isoformat(),
        "timezone": str(kpi.TIMEZONE),
        "calls": figures.calls.to_dict(),
        "hours": figures.hours,
        "now": now,
        "per_agent_figures": per_agent,
        "agents": figures.agents if per_agent else None,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    return web.json_response(body)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/kpis", kpi_page)
    app.router.add_get("/wallboard", wallboard_page)
    app.router.add_get("/api/tenants/{tenant}/wallboard", tenant_wallboard)
