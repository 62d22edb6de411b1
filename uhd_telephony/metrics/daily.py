"""The KPI history ``kpi_daily``: each tenant's Berlin calendar days, as ``metrics.aggregates`` computes them.

One definition: a row holds what ``aggregates.call_kpis`` and ``aggregates.ticket_kpis`` (kpi.py's definitions
under the tenant's contract in force that day, ``tenants.contract``: a row keeps its month's rules,
the monthly report's code path) return for ``[local midnight, next local midnight)`` — 23 or 25 hours on the DST
days. Grafana's "Hotline history" dashboard (``grafana/dashboards/history.json``) selects the rows as they are
and computes no KPI itself; a period's ratio is never an average of days, so it shows days only.

Freshness: ``KpiDailyScanner`` recomputes today and yesterday of every tenant every ``UHD_KPI_DAILY_S``
(300 s) — yesterday too, because a call entering before midnight ends after it and yesterday's tickets are
routed today. Older rows keep their last computation; a day's ticket cohort (forwarded, first-contact
resolution) can still move after that, and ``uhd-telephony kpi-daily --from … --to …`` recomputes any days.

Several instances: each row is one upsert keyed (tenant, day), and it replaces a stored row only with figures
computed at the same time or later (``computed_at``, taken before the reads): a slow instance never puts
older figures over fresher ones, and a day computed twice is the same day. Nothing else to coordinate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, union
from sqlalchemy.dialects import postgresql, sqlite

from uhd_telephony.calls.models import Call
from uhd_telephony.errors import InvalidInput
from uhd_telephony.metrics import aggregates, kpi
from uhd_telephony.metrics.models import kpi_daily
from uhd_telephony.runtime.scanner import PeriodicScanner, utc_now
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tenants.models import Tenant
from uhd_telephony.tickets.models import Ticket

log = logging.getLogger(__name__)

KEY = ("tenant", "day")
MAX_BACKFILL_DAYS = 3660  # ten years: a typo in a year is an error, not a night of work
_calls = table_of(Call)
_tickets = table_of(Ticket)
_tenants = table_of(Tenant)


def berlin_day(at: datetime) -> date:
    """The Europe/Berlin calendar day of an aware instant."""
    return at.astimezone(kpi.TIMEZONE).date()


def day_period(day: date) -> tuple[datetime, datetime]:
    """``[local midnight, next local midnight)`` of a Berlin day (midnight always exists: DST moves 2-3 am)."""
    return (
        datetime.combine(day, time(0), kpi.TIMEZONE),
        datetime.combine(day + timedelta(days=1), time(0), kpi.TIMEZONE),
    )


def days_between(first: date, last: date) -> list[date]:
    """``first`` .. ``last``, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def daily_row(
    tenant: str,
    day: date,
    calls: kpi.CallKpis,
    tickets: aggregates.TicketAggregates,
    computed_at: datetime,
) -> dict[str, Any]:
    """The ``kpi_daily`` row of one tenant's day: kpi.py's figures, named as kpi.py names them."""
    t = tickets.kpis
    return {
        "tenant": tenant,
        "day": day,
        # a day lies in one contract month: one set of rules, one T
        "service_level_s": calls.rules[-1].service_level_s,
        "calls_offered": calls.offered,
        "calls_answered": calls.answered,
        "calls_answered_within_service_level": calls.answered_within_service_level,
        "calls_abandoned": calls.abandoned,
        "short_abandons": calls.short_abandons,
        "calls_timed_out": calls.timed_out,
        # outside the tenant's business hours (its SLA calendar), of which the dialplan closed calls_closed
        "calls_outside_hours": calls.outside_hours,
        "calls_closed": calls.closed,
        "transfers_in": calls.transfers_in,
        "calls_in_progress": calls.in_progress,
        "reachability": calls.reachability,
        "service_level": calls.service_level,
        "abandon_rate": calls.abandon_rate,
        "reaction_time_mean_s": calls.reaction_time.mean,
        "reaction_time_median_s": calls.reaction_time.median,
        "reaction_time_p90_s": calls.reaction_time.p90,
        "talk_time_mean_s": calls.talk_time.mean,
        "tickets_created": t.created,
        "tickets_routed": t.routed,
        "tickets_escalated": t.escalated,
        "tickets_forwarded": t.forwarded,
        "escalation_time_mean_s": t.escalation_time.mean,
        "escalation_time_p90_s": t.escalation_time.p90,
        "tickets_resolved_first_level": tickets.first_contact.resolved_at_first_level,
        "first_contact_resolution": tickets.first_contact.rate,
        "computed_at": computed_at,
    }


async def compute_day(
    db: Database, tenant: str, day: date, *, computed_at: datetime, service_level_s: float | None = None
) -> dict[str, Any]:
    """One tenant's day, computed by ``metrics.aggregates`` (the one place that calls it for the history) by the
    tenant's contract in force that day (``service_level_s``: another T)."""
    start, end = day_period(day)
    calls, tickets = await asyncio.gather(
        aggregates.call_kpis(db, tenant, start, end, service_level_s=service_level_s),
        aggregates.ticket_kpis(db, tenant, start, end),
    )
    return daily_row(tenant, day, calls, tickets, computed_at)


def _upsert(dialect: str, rows: Sequence[dict[str, Any]]) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(kpi_daily).values(list(rows))
    figures = {c.name: stmt.excluded[c.name] for c in kpi_daily.columns if c.name not in KEY}
    return stmt.on_conflict_do_update(
        index_elements=[kpi_daily.c.tenant, kpi_daily.c.day],
        set_=figures,
        # figures computed earlier (a slower instance, a backfill started before) never replace later ones
        where=kpi_daily.c.computed_at <= stmt.excluded.computed_at,
    )


async def store_rows(db: Database, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or replace the rows (by tenant and day) in one transaction."""
    if not rows:
        return
    async with db.engine.begin() as conn:
        await conn.execute(_upsert(conn.dialect.name, rows))


async def known_tenants(db: Database, start: datetime, end: datetime) -> list[str]:
    """The active tenants, and every tenant with calls or tickets in ``[start, end)`` (calls of a tenant that
    is not, or no longer, a tenants row still have a history)."""
    active = select(_tenants.c.tenant).where(_tenants.c.active.is_(True))
    with_calls = select(_calls.c.tenant).where(_calls.c.entered_at >= start, _calls.c.entered_at < end)
    with_tickets = select(_tickets.c.tenant).where(_tickets.c.created_at >= start, _tickets.c.created_at < end)
    async with db.engine.connect() as conn:
        rows = await conn.execute(union(active, with_calls, with_tickets))
        return sorted({r[0] for r in rows})


async def write_days(
    db: Database,
    days: Iterable[date],
    *,
    tenants: Sequence[str] | None = None,
    now: datetime | None = None,
    service_level_s: float | None = None,
) -> int:
    """Compute and upsert every (tenant, day); ``tenants`` None: every known tenant of those days. The number
    of rows written. Each day commits on its own: a long backfill keeps what it has done."""
    wanted = sorted(set(days))
    if not wanted:
        return 0
    computed_at = now or utc_now()
    if tenants is None:
        tenants = await known_tenants(db, day_period(wanted[0])[0], day_period(wanted[-1])[1])
    written = 0
    for tenant in tenants:
        for day in wanted:
            row = await compute_day(db, tenant, day, computed_at=computed_at, service_level_s=service_level_s)
            await store_rows(db, [row])
            written += 1
    return written


async def backfill(
    db: Database, first: date, last: date, *, tenants: Sequence[str] = (), now: datetime | None = None
) -> int:
    """``uhd-telephony kpi-daily``: recompute ``first`` .. ``last`` (Berlin days, both included)."""
    now = now or utc_now()
    if first > last:
        raise InvalidInput("--from is after --to", {"from": first.isoformat(), "to": last.isoformat()})
    if last > berlin_day(now):
        raise InvalidInput("--to is in the future", {"to": last.isoformat(), "today": berlin_day(now).isoformat()})
    if (last - first).days >= MAX_BACKFILL_DAYS:
        raise InvalidInput(f"at most {MAX_BACKFILL_DAYS} days at once", {"from": first.isoformat()})
    return await write_days(db, days_between(first, last), tenants=list(tenants) or None, now=now)


class KpiDailyScanner(PeriodicScanner):
    """Recomputes today's and yesterday's ``kpi_daily`` rows of every tenant; one owned task, ``start``/``close``."""

    label = "kpi daily"

    def __init__(self, db: Database, *, service_level_s: float | None = None, **options: Any) -> None:
        super().__init__(db, **options)
        self.service_level_s = service_level_s
        self.written = 0

    def health(self) -> dict[str, Any]:
        return {"written": self.written, "last_error": self.last_error}

    async def scan_once(self) -> int:
        now = self.clock()
        today = berlin_day(now)
        days = [today - timedelta(days=1), today]
        tenants = await known_tenants(self.db, day_period(days[0])[0], day_period(today)[1])
        written = 0
        failed = []
        for tenant in tenants:
            try:
                written += await write_days(
                    self.db, days, tenants=[tenant], now=now, service_level_s=self.service_level_s
                )
            except Exception:  # one tenant's failure must not stop the others' history
                log.exception("kpi daily: the days of %s failed; retried at the next scan", tenant)
                failed.append(tenant)
        self.written += written
        if failed:  # the scan loop logs it and shows it in the health's last_error
            raise RuntimeError(f"kpi daily: {len(failed)} of {len(tenants)} tenants failed: {', '.join(failed)}")
        return written
