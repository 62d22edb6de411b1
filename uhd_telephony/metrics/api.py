"""``GET /metrics`` for Prometheus and ``GET /api/tenants/{tenant}/kpis`` for people and the report.

The KPI API streams the tenant's stored calls of the period through ``kpi.py`` (``queries.call_kpis``): the
same functions the live counters classify with. Periods are ISO dates or datetimes:

- ``from=2026-03-01&to=2026-03-31``: whole days in Europe/Berlin, ``to`` included (March, to the last second).
- ``from=2026-03-01T08:00:00+01:00&to=2026-03-01T12:00:00+01:00``: instants, ``to`` excluded; a datetime
  without an offset is Europe/Berlin time.

Optional: ``queue`` (one queue's stays only; tickets have no queue and stay per tenant), ``service_level_s``
(T of the service level for this question; default: the contract's), ``exclude_transfers_in=true`` (the
per-hotline view, see ``kpi``). The calls are counted by the tenant's contract (``tenants.contract``), each part of
the period by the rules in force in it; ``calls.rules`` lists them.
Calls count by their queue entry time, tickets by their creation time (``kpi``'s docstring). Business hours are
the tenant's SLA calendar (none imported: around the clock); calls outside them are counted apart, in no ratio.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from uhd_telephony.i18n import Msg
from uhd_telephony.incidents.figures import period_figures
from uhd_telephony.incidents.figures import section as incident_section
from uhd_telephony.incidents.schemas import MajorIncidentsOut
from uhd_telephony.metrics import aggregates, kpi, queries, report
from uhd_telephony.metrics.live import waiting_callers
from uhd_telephony.metrics.reachback import ReachedBackOut, reach_figures
from uhd_telephony.metrics.satisfaction import satisfaction_figures
from uhd_telephony.tenants.api import KpiRulesOut
from uhd_telephony.web import keys
from uhd_telephony.web.auth import require_in_tenant
from uhd_telephony.web.inputs import period
from uhd_telephony.web.locale import request_locale
from uhd_telephony.web.openapi import documented, single_query

KPI_ROLES = ("agent", "admin", "manager")
REPORT_ROLES = ("admin", "manager")  # the monthly report goes to management, not to the agents
# the classic text format, which is what generate_latest writes for our ASCII names (recent prometheus-client
# releases announce version=1.0.0 in CONTENT_TYPE_LATEST; Prometheus 2.x expects 0.0.4)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_PERIOD = timedelta(days=400)


# -- request and response models (what web.openapi documents) --------------------------------------------------


class KpiQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(
        alias="from",
        max_length=40,
        description="first day (2026-03-01, Europe/Berlin) or instant (2026-03-01T08:00:00+01:00), included",
    )
    to: str = Field(max_length=40, description="last day (included) or instant (excluded)")
    queue: str | None = Field(default=None, min_length=1, max_length=128, description="one queue's stays only")
    service_level_s: float | None = Field(
        default=None, gt=0, le=3600, description="T of the service level (default: the tenant's contract's)"
    )
    exclude_transfers_in: bool = Field(default=False, description="leave out stays that came by a transfer")

    @field_validator("queue")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError(Msg("must be a queue name"))
        return value


_OUT = ConfigDict(extra="forbid", populate_by_name=True)  # the answer has exactly these fields


class DistributionOut(BaseModel):
    model_config = _OUT
    count: int
    mean: float | None
    median: float | None
    p90: float | None


class TalkTimeOut(BaseModel):
    model_config = _OUT
    count: int
    mean: float | None


class CallKpisOut(BaseModel):
    """``kpi.CallKpis.to_dict()``: counts of queue stays, ratios 0..1 (null when the base is 0)."""

    model_config = _OUT

    offered: int
    answered: int
    answered_within_service_level: int
    abandoned: int
    short_abandons: int
    timed_out: int
    outside_hours: int = Field(description="stays outside business hours (closed, or queued outside the calendar)")
    closed: int = Field(description="of which closed by the dialplan (never in a queue)")
    queued_outside_hours: int = Field(description="of which entered a queue outside the calendar's business hours")
    answered_outside_hours: int = Field(description="of which queued and answered outside business hours")
    left_at_announcement: int = Field(
        description="calls that ended at a major incident's announcement, never in a queue: not offered"
    )
    subscribed_at_announcement: int = Field(
        description="of which the caller pressed the key to be told when the incident is over"
    )
    outcomes: dict[str, int]
    transfers_in: int
    transfers_in_excluded: bool
    conversations: int
    in_progress: int
    base: int = Field(
        description="the denominator of reachability and abandon rate (offered - short abandons, "
        "unless the contract keeps short abandons in it)"
    )
    service_level_base: int = Field(description="the service level's denominator (the contract may leave abandons out)")
    not_under_contract: int = Field(description="stays of queues the tenant's contract does not count: in no figure")
    rules: list[KpiRulesOut] = Field(description="the contract's rules of each part of the period (one per month)")
    reachability: float | None
    service_level: float | None
    service_level_s: float | None = Field(description="T of the service level (null: the parts' contracts differ)")
    abandon_rate: float | None
    reaction_time_s: DistributionOut = Field(description="wait of answered stays; percentiles by nearest rank")
    talk_time_s: TalkTimeOut
    offered_by_weekday_hour: list[list[int]] = Field(description="7 rows (Monday first) of 24 hours, Europe/Berlin")
    outside_hours_by_weekday_hour: list[list[int]]


class EscalationTimeOut(BaseModel):
    model_config = _OUT
    count: int
    mean: float | None
    p90: float | None


class TicketKpisOut(BaseModel):
    """``kpi.TicketKpis.to_dict()`` over the tickets created in the period."""

    model_config = _OUT

    created: int
    by_category: dict[str, int]
    by_priority: dict[str, int]
    by_channel: dict[str, int]
    routed: int
    escalated: int
    forwarded: int
    routed_by_category: dict[str, int]
    escalated_by_category: dict[str, int]
    forwarded_by_category: dict[str, int]
    escalation_time_s: EscalationTimeOut


class ScoresOut(BaseModel):
    """``metrics.satisfaction.Scores.to_dict()``: the callers' ratings given in the period."""

    model_config = _OUT
    responses: int
    mean: float | None = Field(description="mean score, 1 (not at all satisfied) to 5 (very satisfied)")
    distribution: dict[str, int] = Field(description="ratings per score, keys 1 to 5")
    resolved: int = Field(description="tickets resolved in the period (the base of the response rate)")
    response_rate: float | None = Field(description="responses ÷ resolved (null without resolved tickets)")


class SatisfactionOut(ScoresOut):
    """``metrics.satisfaction.Satisfaction.figures()``: overall, and per top-level category (code; ``none``)."""

    by_category: dict[str, ScoresOut]


class NowOut(BaseModel):
    model_config = _OUT
    waiting: int = Field(description="callers waiting in one of the tenant's queues now")
    longest_wait_s: float = Field(description="the longest current wait in seconds (0 when nobody waits)")


class KpiResponse(BaseModel):
    model_config = _OUT
    tenant: str
    from_: str = Field(alias="from")
    to: str
    timezone: str
    queue: str | None
    business_hours: dict[str, Any] | None = Field(
        description="the tenant's business calendar the calls were classified by (null: around the clock)"
    )
    calls: CallKpisOut
    tickets: TicketKpisOut
    satisfaction: SatisfactionOut = Field(
        description="the callers' ratings given in the period, per category as when rated (metrics.satisfaction)"
    )
    major_incidents: MajorIncidentsOut = Field(
        description="the major incidents going on in the period, each with its calls (incidents.figures)"
    )
    reached_back: ReachedBackOut = Field(
        description="lost stays of the period (by queue entry) and their callers reached back within the contract's "
        "window: by calling again or by a callback the caller answered (metrics.reachback)"
    )
    now: NowOut | None = Field(
        description="the tenant's callers waiting in a queue at this moment (null: no live call tracking in this "
        "process)"
    )


# -- the period -----------------------------------------------------------------------------------------------


def parse_period(start: str, end: str) -> tuple[datetime, datetime]:
    """``[from, to)`` as aware datetimes from the query's ``from`` and ``to`` (module docstring)."""
    return period(start, end, MAX_PERIOD)


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["json", "csv", "html"] = Field(default="json", description="json, csv or html (self-contained)")


# -- handlers -------------------------------------------------------------------------------------------------


@documented(
    "Call and ticket KPIs of the tenant over a period",
    query=KpiQuery,
    response=KpiResponse,
    tag="kpis",
    description="Computed from the stored calls and tickets by the same definitions as /metrics (metrics.kpi): "
    "queue stays that entered in the period, tickets created in it.",
)
async def tenant_kpis(request: web.Request) -> web.Response:
    """The tenant's call and ticket KPIs over a period (JSON; the shapes of ``CallKpis``/``TicketKpis.to_dict``)."""
    _, tenant = await require_in_tenant(request, *KPI_ROLES)
    query = single_query(request, KpiQuery)
    start, end = parse_period(query.from_, query.to)
    db = request.app[keys.DB]
    calendar = await queries.tenant_calendar(db, tenant)
    if query.queue is None and not query.exclude_transfers_in:
        # the default view: counted in SQL (a month of a big tenant in about a second; equal to the streamed path,
        # tests/metrics/test_aggregates.py)
        calls = await aggregates.call_kpis(
            db, tenant, start, end, service_level_s=query.service_level_s, calendar=calendar
        )
    else:  # one queue, or without transfers in: every stay through kpi.CallTally
        calls = await queries.call_kpis(
            db,
            tenant,
            start,
            end,
            queue=query.queue,
            service_level_s=query.service_level_s,
            exclude_transfers_in=query.exclude_transfers_in,
            calendar=calendar,
        )
    tickets = (await aggregates.ticket_kpis(db, tenant, start, end)).kpis
    body: dict[str, Any] = {
        "tenant": tenant,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "timezone": str(kpi.TIMEZONE),
        "queue": query.queue,
        "business_hours": None if calendar is None else calendar.to_config(),
        "calls": calls.to_dict(),
        "tickets": tickets.to_dict(),
        "satisfaction": (await satisfaction_figures(db, tenant, start, end)).figures(),
        "major_incidents": incident_section(await period_figures(db, tenant, start, end)),
        "reached_back": (await reach_figures(db, tenant, start, end, queue=query.queue)).to_dict(),
        "now": _now(request, tenant),
    }
    return web.json_response(body)


def _now(request: web.Request, tenant: str) -> dict[str, Any] | None:
    """The tenant's callers waiting now, from the call tracker of this process (``live.waiting_callers``)."""
    service = request.app.get(keys.METRICS)
    if service is None or service.tracker is None:
        return None
    active = [c for c in service.tracker.calls.values() if c.tenant == tenant]
    waiting = waiting_callers(active, service.events.now(service.clock()), lambda t, q: (t, q))
    longest = max((w for _, w in waiting.values()), default=0.0)
    return {"waiting": sum(n for n, _ in waiting.values()), "longest_wait_s": round(max(longest, 0.0), 1)}


@documented(
    "The tenant's monthly report (JSON, CSV or a self-contained HTML page)",
    query=ReportQuery,
    tag="kpis",
    description="The month (YYYY-MM) in Europe/Berlin: calls by queue entry, tickets by creation, by the "
    "definitions of metrics.kpi (the same figures as /kpis over the month). Managers and admins only.",
)
async def tenant_report(request: web.Request) -> web.Response:
    """``metrics.report`` of the tenant for the month in the path."""
    _, tenant = await require_in_tenant(request, *REPORT_ROLES)
    query = single_query(request, ReportQuery)
    month = request.match_info["month"]
    report.month_period(month)  # a bad month is a 400 before any query
    # in the reader's language (German unless the account chose English)
    _, text = await report.produce(request.app[keys.DB], tenant, month, query.format, locale=request_locale(request))
    headers = {}
    if query.format != "json":
        disposition = "attachment" if query.format == "csv" else "inline"
        name = re.sub(r"[^A-Za-z0-9._-]", "_", f"report-{tenant}-{month}.{query.format}")
        headers["Content-Disposition"] = f'{disposition}; filename="{name}"'
    content_type = report.CONTENT_TYPES[query.format].split(";")[0]
    return web.Response(text=text, content_type=content_type, charset="utf-8", headers=headers)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition text of this process (404 when the app runs without live metrics)."""
    service = request.app.get(keys.METRICS)
    if service is None:
        raise web.HTTPNotFound()
    body = await service.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/tenants/{tenant}/kpis", tenant_kpis)
    app.router.add_get("/api/tenants/{tenant}/reports/{month}", tenant_report)
