"""SLA KPIs from the ``escalations`` table, for the KPI API and the monthly report to use.

A cohort like ``kpi.ticket_kpis``: the tickets CREATED in the period that are measured by an SLA (they have an
SLA timer row), with the escalations they got since.

- warnings / breaches: escalations by kind, per target (response, resolution) and per top-level category of the
  ticket when it fired (``none`` when unclassified then).
- SLA compliance per target = tickets without a breach of that target ÷ tickets measured. A ticket still open and
  not breached yet counts as compliant so far (the report says "as of").
- escalation time = ticket creation → its first escalation (warning or breach): mean and p90 (nearest rank).
- open: escalations not taken back (acknowledged ones included).

``sla_facts`` reads the cohort's escalations row by row for ``sla_kpis`` (the definition); ``sla_aggregates``
counts the same in SQL for the monthly report (``tests/metrics/test_sla_aggregates.py`` proves the two equal).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, func, literal, null, select, union_all
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY

from uhd_telephony.metrics.aggregates import run_all
from uhd_telephony.metrics.kpi import Distribution, ratio, top_level
from uhd_telephony.metrics.queries import _micros_between
from uhd_telephony.sla.models import escalations, sla_timers
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.view import categories, tickets

TARGETS = ("response", "resolution")


@dataclass(frozen=True, slots=True)
class EscalationFact:
    ticket_id: int
    kind: str  # warning | breach
    target: str  # response | resolution
    category_path: str | None  # the ticket's category when the escalation fired
    created_at: datetime  # the ticket's
    fired_at: datetime
    open: bool


@dataclass(frozen=True, slots=True)
class SlaKpis:
    measured: int  # tickets of the cohort with an SLA
    warnings: dict[str, int] = field(default_factory=dict)  # per target
    breaches: dict[str, int] = field(default_factory=dict)
    compliance: dict[str, float | None] = field(default_factory=dict)  # per target, 0..1
    by_category: dict[str, dict[str, int]] = field(default_factory=dict)  # top level -> {warning, breach}
    escalation_time_mean_s: float | None = None
    escalation_time_p90_s: float | None = None
    open: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "measured": self.measured,
            "warnings": dict(self.warnings),
            "breaches": dict(self.breaches),
            "compliance": dict(self.compliance),
            "by_category": {k: dict(v) for k, v in self.by_category.items()},
            "escalation_time_s": {"mean": self.escalation_time_mean_s, "p90": self.escalation_time_p90_s},
            "open": self.open,
        }


def sla_kpis(measured: int, facts: Iterable[EscalationFact]) -> SlaKpis:
    """The SLA KPIs of a cohort of ``measured`` tickets and their escalations (pure)."""
    facts = list(facts)
    warnings = Counter(f.target for f in facts if f.kind == "warning")
    breaches = Counter(f.target for f in facts if f.kind == "breach")
    breached = {t: {f.ticket_id for f in facts if f.kind == "breach" and f.target == t} for t in TARGETS}
    by_category: dict[str, dict[str, int]] = {}
    for f in facts:
        counts = by_category.setdefault(top_level(f.category_path), {"warning": 0, "breach": 0})
        counts[f.kind] += 1
    first: dict[int, float] = {}
    for f in facts:
        seconds = (f.fired_at - f.created_at).total_seconds()
        first[f.ticket_id] = min(seconds, first.get(f.ticket_id, seconds))
    times = Distribution.of(list(first.values()))
    return SlaKpis(
        measured=measured,
        warnings={t: warnings.get(t, 0) for t in TARGETS},
        breaches={t: breaches.get(t, 0) for t in TARGETS},
        compliance={t: ratio(measured - len(breached[t]), measured) for t in TARGETS},
        by_category=dict(sorted(by_category.items())),
        escalation_time_mean_s=times.mean,
        escalation_time_p90_s=times.p90,
        open=sum(1 for f in facts if f.open),
    )


async def sla_facts(db: Database, tenant: str, start: datetime, end: datetime) -> tuple[int, list[EscalationFact]]:
    """(tickets measured, their escalations) of the tenant's tickets created in ``[start, end)``."""
    cohort = (tickets.c.tenant == tenant, tickets.c.created_at >= start, tickets.c.created_at < end)
    measured = select(tickets.c.id).join(sla_timers, sla_timers.c.ticket_id == tickets.c.id).where(*cohort).subquery()
    stmt = (
        select(
            escalations.c.ticket_id,
            escalations.c.kind,
            escalations.c.target,
            categories.c.path,
            tickets.c.created_at,
            escalations.c.fired_at,
            escalations.c.de_escalated_at,
        )
        .join(tickets, tickets.c.id == escalations.c.ticket_id)
        .outerjoin(
            categories, (categories.c.tenant == escalations.c.tenant) & (categories.c.id == escalations.c.category_id)
        )
        .where(*cohort)
        .order_by(escalations.c.id)
    )
    async with db.engine.connect() as conn:
        count = int((await conn.execute(select(func.count()).select_from(measured))).scalar_one())
        facts = [
            EscalationFact(r.ticket_id, r.kind, r.target, r.path, r.created_at, r.fired_at, r.de_escalated_at is None)
            for r in await conn.execute(stmt)
        ]
    return count, facts


async def sla_aggregates(db: Database, tenant: str, start: datetime, end: datetime) -> SlaKpis:
    """``sla_kpis(*sla_facts(...))`` counted in SQL: one statement, four kinds of rows — the cohort's escalations
    per (kind, target, category path when fired, open), its breached tickets per target, the tickets measured,
    and each escalated ticket's time to its first escalation (PostgreSQL: one array; SQLite: a row per ticket)."""
    t, e, c = tickets.c, escalations.c, categories.c
    cohort = (t.tenant == tenant, t.created_at >= start, t.created_at < end)
    dialect = db.engine.dialect.name
    fired = (
        select(e.ticket_id, e.kind, e.target, e.tenant, e.category_id, e.fired_at, e.de_escalated_at, t.created_at)
        .join(tickets, t.id == e.ticket_id)
        .where(*cohort)
        .cte("fired")
    )
    f = fired.c
    is_open = f.de_escalated_at.is_(None)
    # PostgreSQL: the times as one array in a column of their own (a UNION resolves its types column by column)
    no_times: Any = sql_cast(null(), ARRAY(BigInteger)) if dialect == "postgresql" else null()
    counted = (
        select(literal(0), f.kind, f.target, c.path, is_open, func.count(), no_times)
        .select_from(fired.outerjoin(categories, (c.tenant == f.tenant) & (c.id == f.category_id)))
        .group_by(f.kind, f.target, c.path, is_open)
    )
    # a ticket breaches a target once (UNIQUE (ticket_id, kind, target)); counted as sla_kpis counts: distinct
    breached = (
        select(literal(1), null(), f.target, null(), null(), func.count(f.ticket_id.distinct()), no_times)
        .where(f.kind == "breach")
        .group_by(f.target)
    )
    measured = (
        select(literal(2), null(), null(), null(), null(), func.count(), no_times)
        .select_from(tickets.join(sla_timers, sla_timers.c.ticket_id == t.id))
        .where(*cohort)
    )
    first = (
        select(_micros_between(dialect, func.min(f.fired_at), f.created_at).label("us"))
        .group_by(f.ticket_id, f.created_at)
        .subquery("first")
    )
    us = func.array_agg(first.c.us) if dialect == "postgresql" else first.c.us
    times = select(literal(3), null(), null(), null(), null(), null(), us)
    (rows,) = await run_all(db, [union_all(counted, breached, measured, times)])
    warnings = dict.fromkeys(TARGETS, 0)
    breaches = dict.fromkeys(TARGETS, 0)
    breached_tickets = dict.fromkeys(TARGETS, 0)
    by_category: dict[str, dict[str, int]] = {}
    micros: list[int] = []
    count = opened = 0
    for part, kind, target, path, still_open, n, values in rows:
        if part == 0:
            (warnings if kind == "warning" else breaches)[target] += n
            by_category.setdefault(top_level(path), {"warning": 0, "breach": 0})[kind] += n
            opened += n if still_open else 0
        elif part == 1:
            breached_tickets[target] = n
        elif part == 2:
            count = n
        elif values is not None:
            micros.extend(values if isinstance(values, list) else [values])
    times_s = Distribution.of([int(us) / 1_000_000 for us in micros])
    return SlaKpis(
        measured=count,
        warnings=warnings,
        breaches=breaches,
        compliance={k: ratio(count - breached_tickets[k], count) for k in TARGETS},
        by_category=dict(sorted(by_category.items())),
        escalation_time_mean_s=times_s.mean,
        escalation_time_p90_s=times_s.p90,
        open=opened,
    )
