"""SQL aggregates of one tenant's period: the monthly report's KPIs without a million rows through Python.

``queries.call_kpis`` streams every stay through ``kpi.CallTally``: exact, and fine for a day, but a month of a
big tenant (a million stays) takes seconds. Here the database counts and Python classifies what it counted:

- stays are counted per (outcome, hour of entry); each group is classified by ``kpi``'s predicates
  (``is_offered``, ``is_answered``, ...) and placed in the weekday x hour grid by ``kpi.weekday_hour`` — Berlin's
  offsets are whole hours, so every UTC hour lies in one Berlin hour;
- "within the service level" is the SQL twin of ``kpi.within_service_level`` (``wait_s <= T``);
- transfers in (a stay whose linkedid had an earlier ``transferred`` stay, in the (entered_at, id) order of
  ``queues.call_kpis``) and conversations (distinct linkedids of offered stays) are counted in SQL;
- durations are NOT aggregated in SQL: the database returns the answered stays' waits and talks (one array on
  PostgreSQL) and ``kpi.Distribution.of`` takes mean (``fsum``), median and p90 (nearest rank) of them, so the
  figures are kpi.py's to the last bit. Ticket escalation times likewise, in whole microseconds.

``tests/metrics/test_aggregates.py`` proves ``call_kpis`` / ``ticket_kpis`` here equal to ``queries.call_kpis``
and ``kpi.ticket_kpis`` over the same stored rows, on SQLite and PostgreSQL. Only the default view is
aggregated (all queues, transfers in included); the KPI API serves the other views.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, exists, func, literal, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import aliased

from uhd_telephony.calls.records import ANSWERED_OUTCOMES, Outcome
from uhd_telephony.metrics import kpi
from uhd_telephony.metrics.queries import (
    _category,
    _escalation,
    _micros_between,
    _outcome,
    _routed_beyond_first_level,
    _top_levels,
    calls,
    history,
    tickets,
)
from uhd_telephony.store.db import Database

_ANSWERED = sorted(o.value for o in ANSWERED_OUTCOMES)


def _hour_index(dialect: str, column: Any) -> ColumnElement[Any]:
    """The UTC hour of a stored datetime: whole hours since the epoch, or (PostgreSQL) the truncated timestamp."""
    if dialect == "postgresql":
        # cheaper than epoch arithmetic, which is numeric in PostgreSQL 14+; _hours() converts the groups
        return func.date_trunc("hour", func.timezone("UTC", column))
    if dialect == "sqlite":
        # fixed-width "YYYY-MM-DD HH:MM:SS.ffffff" text in UTC (store.models.UtcDateTime)
        return sql_cast(func.strftime("%s", func.substr(column, 1, 13) + literal(":00:00")), Integer) / 3600
    raise NotImplementedError(f"no hour arithmetic for database dialect {dialect!r}")


async def run_all(db: Database, statements: list[Any]) -> list[list[Any]]:
    """The rows of each statement; on PostgreSQL at the same time, each on a pooled connection of its own
    (the report's scans are independent: the server works them on its cores in parallel)."""

    async def rows_of(stmt: Any) -> list[Any]:
        async with db.engine.connect() as conn:
            return list((await conn.execute(stmt)).all())

    if db.engine.dialect.name == "postgresql":
        return list(await asyncio.gather(*(rows_of(s) for s in statements)))
    return [await rows_of(s) for s in statements]  # SQLite: one writer/reader file, nothing to gain


def _hours(value: Any) -> int:
    if isinstance(value, datetime):  # PostgreSQL: a naive UTC timestamp
        return int(value.replace(tzinfo=UTC).timestamp()) // 3600
    return int(value)


# ------------------------------------------------------------------------------------------------------ calls
async def call_kpis(
    db: Database, tenant: str, start: datetime, end: datetime, *, service_level_s: float = kpi.SERVICE_LEVEL_S
) -> kpi.CallKpis:
    """The call KPIs of the tenant's stays that entered a queue in ``[start, end)`` (= ``queries.call_kpis``)."""
    c = calls.c
    period = and_(c.tenant == tenant, c.entered_at >= start, c.entered_at < end)
    offered_sql = and_(c.outcome.is_not(None), c.outcome != Outcome.CLOSED.value)  # kpi.is_offered
    dialect = db.engine.dialect.name
    hour = _hour_index(dialect, c.entered_at).label("hour")
    groups = (
        select(
            c.outcome,
            hour,
            func.count().label("n"),
            func.sum(case((c.wait_s <= service_level_s, 1), else_=0)).label("within"),
        )
        .where(period)
        .group_by(c.outcome, hour)
    )
    earlier = aliased(calls, name="earlier")
    e = earlier.c
    transfer_in = exists().where(
        e.tenant == tenant,
        e.entered_at >= start,
        e.entered_at < end,
        e.linkedid == c.linkedid,
        e.outcome == Outcome.TRANSFERRED.value,
        or_(e.entered_at < c.entered_at, and_(e.entered_at == c.entered_at, e.id < c.id)),
    )
    transfers = select(func.count()).where(period, offered_sql, transfer_in)
    # GROUP BY (a hash or an index walk) rather than count(DISTINCT), which sorts by the collation
    linkedids = select(c.linkedid).where(period, offered_sql).group_by(c.linkedid).subquery()
    conversations = select(func.count()).select_from(linkedids)
    answered = and_(period, c.outcome.in_(_ANSWERED))
    if dialect == "postgresql":
        arrays: Any = select(
            func.array_agg(c.wait_s).filter(c.wait_s.is_not(None)),
            func.array_agg(c.talk_s).filter(c.talk_s.is_not(None)),
        ).where(answered)
        waits_talks = [arrays]
    else:
        waits_talks = [
            select(c.wait_s).where(answered, c.wait_s.is_not(None)),
            select(c.talk_s).where(answered, c.talk_s.is_not(None)),
        ]
    rows, transfer_rows, conversation_rows, *duration_rows = await run_all(
        db, [groups, transfers, conversations, *waits_talks]
    )
    n_transfers = int(transfer_rows[0][0])
    n_conversations = int(conversation_rows[0][0])
    if dialect == "postgresql":
        waits, talks = list(duration_rows[0][0][0] or ()), list(duration_rows[0][0][1] or ())
    else:
        waits, talks = [r[0] for r in duration_rows[0]], [r[0] for r in duration_rows[1]]
    # a million values: sorted off the event loop, once (Distribution.of's percentiles then re-sort an ordered
    # list in linear time)
    reaction, talk = await asyncio.to_thread(_distributions, waits, talks)

    counts = _CallCounts()
    for row in rows:
        counts.add(_outcome(row.outcome), _hours(row.hour), int(row.n), int(row.within or 0))
    return kpi.CallKpis(
        offered=counts.offered,
        answered=counts.answered,
        answered_within_service_level=counts.within,
        abandoned=counts.abandoned,
        short_abandons=counts.short_abandons,
        timed_out=counts.timed_out,
        closed=counts.closed,
        outcomes=dict(counts.outcomes),
        transfers_in=n_transfers,
        conversations=n_conversations,
        in_progress=counts.in_progress,
        service_level_s=service_level_s,
        transfers_in_excluded=False,
        reaction_time=reaction,
        talk_time=talk,
        offered_by_weekday_hour=counts.offered_grid,
        closed_by_weekday_hour=counts.closed_grid,
    )


def _distributions(waits: list[float], talks: list[float]) -> tuple[kpi.Distribution, kpi.Distribution]:
    waits.sort()
    talks.sort()
    return kpi.Distribution.of(waits), kpi.Distribution.of(talks)


@dataclass(slots=True)
class _CallCounts:
    """Groups of (outcome, UTC hour) classified with kpi's predicates, as ``kpi.CallTally.add`` does per stay."""

    offered: int = 0
    answered: int = 0
    within: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    timed_out: int = 0
    closed: int = 0
    in_progress: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    offered_grid: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    closed_grid: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])

    def add(self, outcome: Outcome | None, hour: int, n: int, within: int) -> None:
        if outcome is None:
            self.in_progress += n
            return
        day, hh = kpi.weekday_hour(hour * 3600)
        self.outcomes[outcome.value] += n
        if kpi.is_closed(outcome):
            self.closed += n
            self.closed_grid[day][hh] += n
            return
        if not kpi.is_offered(outcome):  # pragma: no cover - every finished stay but closed is offered
            return
        self.offered += n
        self.offered_grid[day][hh] += n
        if kpi.is_answered(outcome):
            self.answered += n
            self.within += within
        elif kpi.is_abandoned(outcome):
            self.abandoned += n
        elif kpi.is_short_abandon(outcome):
            self.short_abandons += n
        elif kpi.is_timed_out(outcome):
            self.timed_out += n


# ------------------------------------------------------------------------------------------------------ tickets
@dataclass(frozen=True, slots=True)
class TicketAggregates:
    """The ticket KPIs of a cohort and its first-contact resolution."""

    kpis: kpi.TicketKpis
    first_contact: kpi.FirstContactResolution


async def ticket_kpis(db: Database, tenant: str, start: datetime, end: datetime) -> TicketAggregates:
    """``kpi.ticket_kpis`` (and FCR) of the tenant's tickets created in ``[start, end)``, counted in SQL."""
    t = tickets.c
    cohort = and_(t.tenant == tenant, t.created_at >= start, t.created_at < end)
    routed, escalated = _routed_beyond_first_level(), _escalation()
    firsts = (
        select(
            history.c.ticket_id,
            func.min(case((routed, history.c.at))).label("routed_at"),
            func.min(case((escalated, history.c.at))).label("escalated_at"),
            func.min(history.c.at).label("forwarded_at"),  # kpi.TicketFact.forwarded_at: the first of either
        )
        .join(tickets, t.id == history.c.ticket_id)
        .where(cohort, or_(routed, escalated))
        .group_by(history.c.ticket_id)
        .subquery("firsts")
    )
    f = firsts.c
    is_routed = case((f.routed_at.is_not(None), 1), else_=0).label("is_routed")
    is_escalated = case((f.escalated_at.is_not(None), 1), else_=0).label("is_escalated")
    groups = (
        select(t.category_id, t.priority, t.channel, t.status, is_routed, is_escalated, func.count().label("n"))
        .select_from(tickets.outerjoin(firsts, f.ticket_id == t.id))
        .where(cohort)
        .group_by(t.category_id, t.priority, t.channel, t.status, is_routed, is_escalated)
    )
    dialect = db.engine.dialect.name
    us = _micros_between(dialect, f.forwarded_at, t.created_at)
    joined = firsts.join(tickets, t.id == f.ticket_id)
    times: Any = select(func.array_agg(us)) if dialect == "postgresql" else select(us)
    time_rows, rows = await run_all(db, [times.select_from(joined), groups])
    micros = list(time_rows[0][0] or ()) if dialect == "postgresql" else [r[0] for r in time_rows]
    async with db.engine.connect() as conn:
        top = await _top_levels(conn, tenant)

    created = 0
    by_category: Counter[str] = Counter()
    by_priority: Counter[str] = Counter()
    by_channel: Counter[str] = Counter()
    routed_n: Counter[str] = Counter()
    escalated_n: Counter[str] = Counter()
    forwarded_n: Counter[str] = Counter()
    resolved: Counter[tuple[str | None, bool]] = Counter()
    for row in rows:
        n = int(row.n)
        category = _category(top, tenant, row.category_id)
        created += n
        by_category[category] += n
        by_priority["none" if row.priority is None else str(row.priority)] += n
        by_channel[row.channel] += n
        if row.is_routed:
            routed_n[category] += n
        if row.is_escalated:
            escalated_n[category] += n
        if row.is_routed or row.is_escalated:
            forwarded_n[category] += n
        resolved[(row.status, bool(row.is_routed))] += n
    kpis = kpi.TicketKpis(
        created=created,
        by_category=dict(sorted(by_category.items())),
        by_priority=dict(sorted(by_priority.items())),
        by_channel=dict(sorted(by_channel.items())),
        routed=sum(routed_n.values()),
        escalated=sum(escalated_n.values()),
        forwarded=sum(forwarded_n.values()),
        routed_by_category=dict(sorted(routed_n.items())),
        escalated_by_category=dict(sorted(escalated_n.items())),
        forwarded_by_category=dict(sorted(forwarded_n.items())),
        escalation_time=kpi.Distribution.of([int(v) / 1_000_000 for v in micros]),
    )
    fcr = kpi.first_contact_resolution(pair for pair, n in resolved.items() for _ in range(n))
    return TicketAggregates(kpis, fcr)
