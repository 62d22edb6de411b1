"""KPIs as the process runs them: the live counters behind /metrics (attached to the call pipeline before the
first AMI event), the KPI API and report routes, the live KPI page, the kpi_daily history, and the SLA calendars
imported elsewhere picked up without waiting for a scrape."""

from __future__ import annotations

from aiohttp import web

from uhd_telephony.metrics import api, wallboard
from uhd_telephony.metrics.daily import KpiDailyScanner
from uhd_telephony.metrics.service import TICKET_TTL_S, MetricsService
from uhd_telephony.runtime.plugin import Capability, Running, Runtime
from uhd_telephony.runtime.scanner import PeriodicScanner
from uhd_telephony.store.db import Database


def routes(app: web.Application) -> None:
    api.add_routes(app)  # GET /metrics, the KPI API, the monthly report
    wallboard.add_routes(app)  # the live KPI page


async def prepare(rt: Runtime) -> None:
    metrics = MetricsService(db=rt.db)
    calls = rt.get("calls")
    if calls is not None:
        metrics.attach(calls)
    await metrics.prime()
    rt.provide("metrics", metrics)


class MetricsRefresh(PeriodicScanner):
    """What /metrics shows from the database, read in the background so that a scrape never waits for it: the
    ticket totals (every 30 s), the SLA calendars, also those imported by another process, and the tenants' and
    categories' names (every 60 s)."""

    label = "metrics refresh"
    scan_at_start = False  # prepare's prime() has read them

    def __init__(self, db: Database, metrics: MetricsService, *, interval_s: float) -> None:
        super().__init__(db, interval_s=interval_s)
        self.metrics = metrics

    async def scan_once(self) -> int:
        await self.metrics.refresh()  # each at most every its TTL; a failed read keeps the last
        return 0


def workers(rt: Runtime) -> list[Running]:
    daily = KpiDailyScanner(rt.db, interval_s=rt.settings.kpi_daily_s)
    rt.provide("kpi_daily", daily)
    running = [Running(daily, "kpi_daily")]
    metrics = rt.get("metrics")
    if metrics is not None:
        every = min(rt.settings.directory_refresh_s, TICKET_TTL_S)
        running.append(Running(MetricsRefresh(rt.db, metrics, interval_s=every)))
    return running


CAPABILITY = Capability(
    name="metrics", models="uhd_telephony.metrics.models", routes=routes, prepare=prepare, workers=workers
)
