"""SQL for the KPIs: the rows ``kpi.py`` reads over a period, and the all-time ticket totals of ``/metrics``.

The period queries fetch facts and leave every decision to ``kpi.py``. Calls are classified by the tenant's
business calendar (``sla.policy.load_calendar``: the SLA calendar; none imported: around the clock) unless the
caller passes one (``calendar=``, None for around the clock). The ticket totals are SQL aggregates
(``/metrics`` must not pull every ticket every scrape); they build their predicates from ``kpi``'s constants
and ``tests/metrics/test_queries.py`` proves them equal to ``kpi.ticket_kpis`` over the same tickets.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import BigInteger, ColumnElement, Integer, and_, case, extract, func, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.calls.models import Call
from uhd_telephony.calls.records import Outcome
from uhd_telephony.metrics import kpi
from uhd_telephony.metrics.exposition import DisplayNames
from uhd_telephony.metrics.live import ESCALATION_BUCKETS, TicketTotals
from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.sla.policy import load_calendar
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tenants import contract
from uhd_telephony.tenants.models import Tenant
from uhd_telephony.tickets.models import Category, Ticket, TicketHistory

log = logging.getLogger(__name__)

calls = table_of(Call)
tickets = table_of(Ticket)
history = table_of(TicketHistory)
categories = table_of(Category)
tenants = table_of(Tenant)

PARTITION = 2_000  # rows per round trip when streaming a period's calls
RECENT_PAIRS_DAYS = 35  # the (tenant, queue) series created at 0 at start: those with calls this recent


class _Default(enum.Enum):
    TENANT_CALENDAR = "the tenant's calendar"


TENANT_CALENDAR: Final = _Default.TENANT_CALENDAR  # the default of ``calendar=``: load the tenant's
CalendarChoice = Calendar | None | Literal[_Default.TENANT_CALENDAR]


async def tenant_calendar(db: Database, tenant: str) -> Calendar | None:
    """The tenant's business calendar (its SLA calendar); None when it has none: around the clock."""
    async with db.engine.connect() as conn:
        return await load_calendar(conn, tenant)


class _Contract(enum.Enum):
    TENANT_CONTRACT = "the tenant's contract"


TENANT_CONTRACT: Final = _Contract.TENANT_CONTRACT  # the default of ``rules=``: the tenant's contract rows
RulesChoice = kpi.KpiRules | Sequence[contract.Part] | Literal[_Contract.TENANT_CONTRACT]


async def resolve_rules(
    db: Database, tenant: str, start: datetime, end: datetime, rules: RulesChoice
) -> list[contract.Part]:
    """The parts of ``[start, end)`` with their rules: the tenant's contract rows (``TENANT_CONTRACT``), one set of
    rules for the whole period, or the parts given."""
    if rules is TENANT_CONTRACT:
        return await contract.rules_by_period(db, tenant, start, end)
    if isinstance(rules, kpi.KpiRules):
        return [contract.Part(start, end, rules)]
    parts = list(rules)
    if not parts:
        raise ValueError("no part of the period")
    return parts


async def resolve_calendar(db: Database, tenant: str, calendar: CalendarChoice) -> Calendar | None:
    """``calendar``, or the tenant's when it is ``TENANT_CALENDAR``."""
    if calendar is TENANT_CALENDAR:
        return await tenant_calendar(db, tenant)
    return calendar


def stored_outcome(value: str | None) -> Outcome | None:
    """A stored outcome as the Outcome it names (one this version does not know: unknown)."""
    if value is None:
        return None
    try:
        return Outcome(value)
    except ValueError:  # written by a newer version: the store reads it as unknown too
        return Outcome.UNKNOWN


_outcome = stored_outcome  # (metrics.aggregates' name for it)


# ------------------------------------------------------------------------------------------------------ calls
async def call_kpis(
    db: Database,
    tenant: str,
    start: datetime,
    end: datetime,
    *,
    queue: str | None = None,
    service_level_s: float | None = None,
    exclude_transfers_in: bool = False,
    calendar: CalendarChoice = TENANT_CALENDAR,
    rules: RulesChoice = TENANT_CONTRACT,
) -> kpi.CallKpis:
    """The call KPIs of the tenant's stays that entered a queue in ``[start, end)``, streamed through kpi.py;
    business hours by ``calendar`` (default: the tenant's), counted by ``rules`` (default: the tenant's contract
    in force in each part of the period; ``service_level_s``: another T for every part)."""
    business = await resolve_calendar(db, tenant, calendar)
    parts = await resolve_rules(db, tenant, start, end, rules)
    stmt = select(
        calls.c.linkedid, calls.c.queue, calls.c.entered_at, calls.c.outcome, calls.c.wait_s, calls.c.talk_s
    ).where(calls.c.tenant == tenant, calls.c.entered_at >= start, calls.c.entered_at < end)
    if queue is not None:
        stmt = stmt.where(calls.c.queue == queue)
    # entry order: a transfer's second stay after its first (kpi.CallTally needs that)
    stmt = stmt.order_by(calls.c.entered_at, calls.c.id)
    tally = kpi.CallTally(parts[0].rules, exclude_transfers_in, business, service_level_s)
    i, bounds = 0, [p.start for p in parts]
    async with db.engine.connect() as conn:
        result = await conn.stream(stmt)
        async for part in result.partitions(PARTITION):
            for row in part:
                while i + 1 < len(parts) and row.entered_at >= bounds[i + 1]:
                    i += 1
                    tally.next_part(parts[i].rules)
                tally.add(
                    kpi.CallFact(
                        linkedid=row.linkedid,
                        queue=row.queue,
                        entered_at=row.entered_at.timestamp(),
                        outcome=stored_outcome(row.outcome),
                        wait_s=row.wait_s,
                        talk_s=row.talk_s,
                    )
                )
    for later in parts[i + 1 :]:
        tally.next_part(later.rules)
    return tally.result()


async def recent_pairs(db: Database, now: datetime, days: int = RECENT_PAIRS_DAYS) -> list[tuple[str, str]]:
    """(tenant, queue) pairs with calls in the last ``days`` days: the live series to create at 0 at start."""
    stmt = (
        select(calls.c.tenant, calls.c.queue)
        .where(calls.c.entered_at >= now - timedelta(days=days))
        .group_by(calls.c.tenant, calls.c.queue)
        .order_by(calls.c.tenant, calls.c.queue)
    )
    async with db.engine.connect() as conn:
        return [(row.tenant, row.queue) for row in await conn.execute(stmt)]


# ------------------------------------------------------------------------------------------------------ tickets
def _routed_beyond_first_level() -> ColumnElement[bool]:
    """``kpi.is_routed_beyond_first_level`` in SQL."""
    return and_(
        history.c.action == kpi.ROUTED, or_(history.c.new_value.is_(None), history.c.new_value != kpi.FIRST_LEVEL)
    )


def _escalation() -> ColumnElement[bool]:
    """``kpi.is_escalation`` in SQL."""
    return history.c.action == kpi.ESCALATED


async def _top_levels(conn: AsyncConnection, tenant: str | None = None) -> dict[tuple[str, int], str]:
    """(tenant, category id) -> top-level category code."""
    stmt = select(categories.c.tenant, categories.c.id, categories.c.path)
    if tenant is not None:
        stmt = stmt.where(categories.c.tenant == tenant)
    return {(row.tenant, row.id): kpi.top_level(row.path) for row in await conn.execute(stmt)}


def _category(top: dict[tuple[str, int], str], tenant: str, category_id: int | None) -> str:
    if category_id is None:
        return kpi.UNCLASSIFIED
    return top.get((tenant, category_id), kpi.UNCLASSIFIED)


async def ticket_facts(db: Database, tenant: str, start: datetime, end: datetime) -> list[kpi.TicketFact]:
    """The tenant's tickets created in ``[start, end)`` with their routing and escalation entries, as kpi facts."""
    period = and_(tickets.c.tenant == tenant, tickets.c.created_at >= start, tickets.c.created_at < end)
    ticket_rows = select(
        tickets.c.id, tickets.c.created_at, tickets.c.category_id, tickets.c.priority, tickets.c.channel
    ).where(period)
    forwarding = (
        select(history.c.ticket_id, history.c.action, history.c.new_value, history.c.at)
        .join(tickets, tickets.c.id == history.c.ticket_id)
        .where(period, history.c.action.in_(kpi.TICKET_ACTIONS))
    )
    async with db.engine.connect() as conn:
        top = await _top_levels(conn, tenant)
        entries: dict[int, list[tuple[str, str | None, datetime]]] = {}
        for row in await conn.execute(forwarding):
            entries.setdefault(row.ticket_id, []).append((row.action, row.new_value, row.at))
        return [
            kpi.ticket_fact(
                tenant,
                row.created_at,
                _category(top, tenant, row.category_id),
                row.priority,
                row.channel,
                entries.get(row.id, ()),
            )
            for row in await conn.execute(ticket_rows)
        ]


def _micros_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[int]:
    """``later - earlier`` in whole microseconds, exactly (kpi.TicketFact.escalation_us is the same number)."""
    if dialect == "postgresql":
        # extract(epoch from interval) is an exact numeric since PostgreSQL 14
        return sql_cast(extract("epoch", later - earlier) * 1_000_000, BigInteger)
    if dialect == "sqlite":
        # stored as fixed-width "YYYY-MM-DD HH:MM:SS.ffffff" (store.models.UtcDateTime). strftime('%s') rounds
        # the fraction to milliseconds (and .9995 up into the next second): whole seconds from the first 19
        # characters, microseconds from the last six
        def seconds(v: Any) -> Any:
            return sql_cast(func.strftime("%s", func.substr(v, 1, 19)), Integer)

        def micros(v: Any) -> Any:
            return sql_cast(func.substr(v, 21, 6), Integer)

        return (seconds(later) - seconds(earlier)) * 1_000_000 + (micros(later) - micros(earlier))
    raise NotImplementedError(f"no interval arithmetic for database dialect {dialect!r}")


async def ticket_totals(db: Database) -> TicketTotals:
    """All-time ticket numbers per tenant and top-level category, and the escalation-time histogram per tenant."""
    routed, escalated = _routed_beyond_first_level(), _escalation()
    firsts = (
        select(
            history.c.ticket_id,
            func.min(case((routed, history.c.at))).label("routed_at"),
            func.min(case((escalated, history.c.at))).label("escalated_at"),
        )
        .where(or_(routed, escalated))
        .group_by(history.c.ticket_id)
        .subquery("firsts")
    )
    async with db.engine.connect() as conn:
        dialect = conn.dialect.name
        # creation -> first forwarding (kpi.TicketFact.escalation_us); NULL for SLA escalations only
        us = _micros_between(dialect, firsts.c.routed_at, tickets.c.created_at).label("us")
        per_ticket = (
            select(tickets.c.tenant, tickets.c.category_id, firsts.c.routed_at, firsts.c.escalated_at, us)
            .join(tickets, tickets.c.id == firsts.c.ticket_id)
            .subquery("per_ticket")
        )
        p = per_ticket.c
        forwarded_stmt = select(
            p.tenant,
            p.category_id,
            func.count(p.routed_at).label("routed"),
            func.count(p.escalated_at).label("escalated"),
            func.coalesce(func.sum(p.us), 0).label("us_sum"),
            *(
                func.sum(case((p.us <= int(bound * 1_000_000), 1), else_=0)).label(f"le{i}")
                for i, bound in enumerate(ESCALATION_BUCKETS)
            ),
        ).group_by(p.tenant, p.category_id)
        created_stmt = select(tickets.c.tenant, tickets.c.category_id, func.count().label("n")).group_by(
            tickets.c.tenant, tickets.c.category_id
        )
        top = await _top_levels(conn)
        created: dict[tuple[str, str], int] = {}
        for row in await conn.execute(created_stmt):
            key = (row.tenant, _category(top, row.tenant, row.category_id))
            created[key] = created.get(key, 0) + int(row.n)
        routed_n: dict[tuple[str, str], int] = {}
        escalated_n: dict[tuple[str, str], int] = {}
        escalation: dict[str, tuple[list[int], int]] = {}
        for row in await conn.execute(forwarded_stmt):
            key = (row.tenant, _category(top, row.tenant, row.category_id))
            routed_n[key] = routed_n.get(key, 0) + int(row.routed)
            escalated_n[key] = escalated_n.get(key, 0) + int(row.escalated)
            counts, total_us = escalation.get(row.tenant, ([0] * (len(ESCALATION_BUCKETS) + 1), 0))
            buckets = [int(row._mapping[f"le{i}"] or 0) for i in range(len(ESCALATION_BUCKETS))]
            buckets.append(int(row.routed))  # +Inf: every forwarded ticket (us is set exactly when routed_at is)
            escalation[row.tenant] = ([a + b for a, b in zip(counts, buckets, strict=True)], total_us + int(row.us_sum))
    return TicketTotals(
        created=created,
        routed={k: v for k, v in routed_n.items() if v},
        escalated={k: v for k, v in escalated_n.items() if v},
        escalation={tenant: (counts, total / 1_000_000) for tenant, (counts, total) in escalation.items()},
    )


# ------------------------------------------------------------------------------------------------------ names
async def display_names(db: Database) -> DisplayNames:
    """The tenants' display names and the top-level categories' titles (inactive ones too: their tickets count):
    what ``/metrics``' info series name the ``tenant`` and ``category`` labels by."""
    async with db.engine.connect() as conn:
        tenant_rows = await conn.execute(select(tenants.c.tenant, tenants.c.name))
        named = {row.tenant: row.name for row in tenant_rows if row.name}
        top = select(categories.c.tenant, categories.c.path, categories.c.name).where(categories.c.parent_id.is_(None))
        titles = {(row.tenant, kpi.top_level(row.path)): row.name for row in await conn.execute(top) if row.name}
    return DisplayNames(tenants=named, categories=titles)
