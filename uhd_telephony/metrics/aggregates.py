"""SQL aggregates of one tenant's period: the monthly report's KPIs without a million rows through Python.

``queries.call_kpis`` streams every stay through ``kpi.CallTally``: exact, and fine for a day, but a month of a
big tenant (a million stays) takes seconds. Here the database counts and Python classifies what it counted:

- business hours: ``kpi.business_spans`` turns the tenant's calendar into the period's business spans in UTC
  (the ``Calendar.day_spans`` that ``kpi.in_business_hours`` tests against) and SQL tests each stay's entry
  against them: on PostgreSQL one ``tstzmultirange`` (``entered_at <@ spans``, a binary search), on SQLite
  OR'd ranges. No calendar (or a 24/7 one): no test, every stay is in business hours;
- stays are counted per (outcome, hour of entry, in business hours); each group is classified by
  ``kpi.CallTally.count``, the classification ``CallTally.add`` applies per stay, and placed in the weekday x hour
  grid by ``kpi.weekday_hour`` — Berlin's offsets are whole hours, so every UTC hour lies in one Berlin hour;
- "within the service level" is the SQL twin of ``kpi.within_service_level`` (``wait_s <= T``);
- transfers in (a business-hours stay whose linkedid had an earlier ``transferred`` stay, in the (entered_at, id)
  order of ``queries.call_kpis``) and conversations (distinct linkedids of offered stays) are counted in SQL;
- durations are NOT aggregated in SQL: the database returns the offered answered stays' waits and talks and
  ``kpi.Distribution.of`` takes mean (``fsum``), median and p90 (nearest rank) of them, so the figures are
  kpi.py's to the last bit. PostgreSQL sends them as one string of binary doubles (``float8send``) that numpy
  reads and sorts in C; Distribution.of's own sort of a sorted list is then linear. Ticket escalation times
  likewise, in whole microseconds.

PostgreSQL runs the independent statements side by side, each on a pooled connection of its own (``run_all``):
the server works them on its cores in parallel, one scan each, without parallel workers of its own (on a
small server they would only compete with the report's other statements).

``tests/metrics/test_aggregates.py`` proves ``call_kpis`` / ``ticket_kpis`` here equal to ``queries.call_kpis``
and ``kpi.ticket_kpis`` over the same stored rows, on SQLite and PostgreSQL, with and without a calendar. Only
the default view is aggregated (all queues, transfers in included); the KPI API serves the other views.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    LargeBinary,
    and_,
    bindparam,
    case,
    distinct,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY, TSTZMULTIRANGE, Range, distinct_on
from sqlalchemy.orm import aliased

from uhd_telephony.calls.records import ANSWERED_OUTCOMES, Outcome
from uhd_telephony.metrics import kpi
from uhd_telephony.metrics.queries import (
    TENANT_CALENDAR,
    CalendarChoice,
    _category,
    _escalation,
    _micros_between,
    _outcome,
    _routed_beyond_first_level,
    _top_levels,
    calls,
    history,
    resolve_calendar,
    tickets,
)
from uhd_telephony.store.db import Database

_ANSWERED = sorted(o.value for o in ANSWERED_OUTCOMES)
# each statement of the report on PostgreSQL: one scan, no parallel workers (run_all runs the statements side by
# side: that is the parallelism), enough memory to hash a month without spilling, no JIT (compiling costs more
# than it saves on a scan of a million narrow rows), and a plan for these very parameters every time: asyncpg
# prepares the statements, and from the sixth execution on PostgreSQL may choose a generic plan that knows
# neither the tenant nor the period (measured: 4.4 s instead of 1.1 s)
_PG_SETTINGS = text(
    "SELECT set_config('max_parallel_workers_per_gather', '0', true), set_config('work_mem', '64MB', true),"
    " set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true)"
)
_OR_FAN = 16  # SQLite: OR'd ranges as a tree of this fan-out, so the parser's expression depth stays small


def _hour_index(dialect: str, column: Any) -> ColumnElement[Any]:
    """The UTC hour of a stored datetime: whole hours since the epoch, or (PostgreSQL) the truncated timestamp."""
    if dialect == "postgresql":
        # cheaper than epoch arithmetic, which is numeric in PostgreSQL 14+; _hours() converts the groups
        return func.date_trunc("hour", func.timezone("UTC", column))
    if dialect == "sqlite":
        # fixed-width "YYYY-MM-DD HH:MM:SS.ffffff" text in UTC (store.models.UtcDateTime)
        return sql_cast(func.strftime("%s", func.substr(column, 1, 13) + literal(":00:00")), Integer) / 3600
    raise NotImplementedError(f"no hour arithmetic for database dialect {dialect!r}")


def _within_spans(dialect: str, column: Any, spans: Sequence[kpi.Span]) -> ColumnElement[bool]:
    """SQL for "``column`` lies in one of ``spans``" (``kpi.in_business_hours`` with those spans)."""
    if not spans:
        return false()
    if dialect == "postgresql":
        # a parameter of its own type: a text cast to tstzmultirange would be parsed again for every row
        ranges = bindparam("business_spans", [Range(s, e, bounds="[)") for s, e in spans], type_=TSTZMULTIRANGE)
        return column.op("<@", is_comparison=True)(ranges)
    terms: list[ColumnElement[bool]] = [and_(column >= s, column < e) for s, e in spans]
    while len(terms) > 1:
        terms = [or_(*terms[i : i + _OR_FAN]).self_group() for i in range(0, len(terms), _OR_FAN)]
    return terms[0]


async def rows_of(db: Database, stmt: Any) -> list[Any]:
    """The rows of one report statement, on a pooled connection of its own (PostgreSQL: ``_PG_SETTINGS``)."""
    async with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(_PG_SETTINGS)  # for this transaction only (is_local)
        return list((await conn.execute(stmt)).all())


async def run_all(db: Database, statements: list[Any]) -> list[list[Any]]:
    """The rows of each statement; on PostgreSQL at the same time, each on a pooled connection of its own
    (the report's scans are independent: the server works them on its cores in parallel)."""
    if db.engine.dialect.name == "postgresql":
        return list(await asyncio.gather(*(rows_of(db, s) for s in statements)))
    return [await rows_of(db, s) for s in statements]  # SQLite: one writer/reader file, nothing to gain


def _hours(value: Any) -> int:
    if isinstance(value, datetime):  # PostgreSQL: a naive UTC timestamp
        return int(value.replace(tzinfo=UTC).timestamp()) // 3600
    return int(value)


def _doubles(raw: bytes | None) -> list[float]:
    """``string_agg(float8send(x), '')``: big-endian IEEE doubles one after another, as sorted floats."""
    if not raw:
        return []
    import numpy as np  # sorts a million doubles in milliseconds (Python: a tenth of a second)

    values = np.frombuffer(raw, dtype=">f8").astype(np.float64)
    values.sort()
    return list(values.tolist())


# ------------------------------------------------------------------------------------------------------ calls
async def call_kpis(
    db: Database,
    tenant: str,
    start: datetime,
    end: datetime,
    *,
    service_level_s: float = kpi.SERVICE_LEVEL_S,
    calendar: CalendarChoice = TENANT_CALENDAR,
) -> kpi.CallKpis:
    """The call KPIs of the tenant's stays that entered a queue in ``[start, end)`` (= ``queries.call_kpis``);
    business hours by ``calendar`` (default: the tenant's calendar)."""
    spans = kpi.business_spans(await resolve_calendar(db, tenant, calendar), start, end)
    dialect = db.engine.dialect.name
    c = calls.c
    period = and_(c.tenant == tenant, c.entered_at >= start, c.entered_at < end)
    inside = None if spans is None else _within_spans(dialect, c.entered_at, spans)

    def in_hours(*conditions: Any) -> ColumnElement[bool]:
        return and_(*conditions) if inside is None else and_(*conditions, inside)

    offered_sql = and_(period, in_hours(c.outcome.is_not(None), c.outcome != Outcome.CLOSED.value))  # is_offered
    keys: list[Any] = [c.outcome, _hour_index(dialect, c.entered_at).label("hour")]
    if spans and inside is not None:  # None: all stays in business hours, []: none (no constant: SQLite reads
        keys.append(inside.label("inside"))  # a constant in GROUP BY as a column number)
    groups = (
        select(
            *keys, func.count().label("n"), func.sum(case((c.wait_s <= service_level_s, 1), else_=0)).label("within")
        )
        .where(period)
        .group_by(*keys)
    )
    if dialect == "postgresql":
        stays, transfers = _offered_pg(tenant, start, end, offered_sql)

        async def durations() -> tuple[int, kpi.Distribution, kpi.Distribution]:
            ((conversations, raw_waits, raw_talks),) = await rows_of(db, stays)
            # up to a million values each: read and sorted off the event loop, while the other statements run
            return conversations, *await asyncio.to_thread(_binary_distributions, raw_waits, raw_talks)

        group_rows, (conversations, reaction, talk), ((transfers_in,),) = await asyncio.gather(
            rows_of(db, groups), durations(), rows_of(db, transfers)
        )
    else:
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
        answered = and_(offered_sql, c.outcome.in_(_ANSWERED))
        linkedids = select(c.linkedid).where(offered_sql).group_by(c.linkedid).subquery()
        group_rows, transfer_rows, conversation_rows, wait_rows, talk_rows = await run_all(
            db,
            [
                groups,
                select(func.count()).where(offered_sql, transfer_in),
                select(func.count()).select_from(linkedids),
                select(c.wait_s).where(answered, c.wait_s.is_not(None)),
                select(c.talk_s).where(answered, c.talk_s.is_not(None)),
            ],
        )
        conversations, transfers_in = conversation_rows[0][0], transfer_rows[0][0]
        waits, talks = [r[0] for r in wait_rows], [r[0] for r in talk_rows]
        reaction, talk = await asyncio.to_thread(_distributions, waits, talks)

    tally = kpi.CallTally(service_level_s=service_level_s)
    for row in group_rows:
        business = bool(row.inside) if spans else spans is None
        tally.count(_outcome(row.outcome), _hours(row.hour) * 3600, business, int(row.n), int(row.within or 0))
    # transfers in, conversations and durations were counted in SQL, not per stay
    return replace(
        tally.result(),
        transfers_in=int(transfers_in),
        conversations=int(conversations),
        reaction_time=reaction,
        talk_time=talk,
    )


def _offered_pg(tenant: str, start: datetime, end: datetime, offered: ColumnElement[bool]) -> tuple[Any, Any]:
    """PostgreSQL: the offered stays' conversations, waits and talks (one scan), and their transfers in (another:
    two statements of about the same length, for two cores).

    A transfer in is a stay whose linkedid's FIRST transferred stay of the period came before it: the first
    transferred stay per linkedid (a few percent of the stays) is hashed once and each offered stay looks
    its linkedid up, instead of an EXISTS per stay.
    """
    c = calls.c
    earlier = aliased(calls, name="earlier")
    e = earlier.c
    first = (
        select(e.linkedid, e.entered_at, e.id)
        .where(e.tenant == tenant, e.entered_at >= start, e.entered_at < end, e.outcome == Outcome.TRANSFERRED.value)
        .ext(distinct_on(e.linkedid))
        .order_by(e.linkedid, e.entered_at, e.id)
        .subquery("first_transfer")
    )
    f = first.c
    transfer_in = or_(f.entered_at < c.entered_at, and_(f.entered_at == c.entered_at, f.id < c.id))
    answered = c.outcome.in_(_ANSWERED)
    empty = literal(b"", LargeBinary)
    stays = select(
        # distinct linkedids in bytewise order: equality is the same under any deterministic collation
        func.count(distinct(c.linkedid.collate("C"))),
        func.string_agg(func.float8send(c.wait_s), empty).filter(answered, c.wait_s.is_not(None)),
        func.string_agg(func.float8send(c.talk_s), empty).filter(answered, c.talk_s.is_not(None)),
    ).where(offered)
    transfers = (
        select(func.count()).select_from(calls.join(first, f.linkedid == c.linkedid)).where(offered, transfer_in)
    )
    return stays, transfers


def _distributions(waits: list[float], talks: list[float]) -> tuple[kpi.Distribution, kpi.Distribution]:
    return kpi.Distribution.of(waits), kpi.Distribution.of(talks)


def _binary_distributions(waits: bytes | None, talks: bytes | None) -> tuple[kpi.Distribution, kpi.Distribution]:
    return _distributions(_doubles(waits), _doubles(talks))


# ------------------------------------------------------------------------------------------------------ tickets
@dataclass(frozen=True, slots=True)
class TicketAggregates:
    """The ticket KPIs of a cohort and its first-contact resolution."""

    kpis: kpi.TicketKpis
    first_contact: kpi.FirstContactResolution


async def ticket_kpis(db: Database, tenant: str, start: datetime, end: datetime) -> TicketAggregates:
    """``kpi.ticket_kpis`` (and FCR) of the tenant's tickets created in ``[start, end)``, counted in SQL.

    One statement, three kinds of rows: the cohort counted per (category, priority, channel, status); its
    forwarded tickets (``firsts``: their first routing beyond 1st level and first escalation, computed once)
    counted per the same keys and routed/escalated; and the forwarded tickets' escalation times.
    """
    t = tickets.c
    cohort = and_(t.tenant == tenant, t.created_at >= start, t.created_at < end)
    routed, escalated = _routed_beyond_first_level(), _escalation()
    dialect = db.engine.dialect.name
    h = history.c
    # each forwarded or escalated ticket's first routing beyond 1st level and first escalation, from its
    # history alone (narrow rows), then joined to the cohort
    first = (
        select(
            h.ticket_id,
            func.min(case((routed, h.at))).label("routed_at"),
            func.min(case((escalated, h.at))).label("escalated_at"),
        )
        # the cohort's tickets only: never the whole history of every tenant (the daily KPI writer runs this per
        # tenant and day every few minutes)
        .where(or_(routed, escalated), h.ticket_id.in_(select(t.id).where(cohort)))
        .group_by(h.ticket_id)
        .subquery("first")
    )
    g = first.c
    firsts = (
        select(
            t.category_id,
            t.priority,
            t.channel,
            t.status,
            case((g.routed_at.is_not(None), 1), else_=0).label("routed"),
            case((g.escalated_at.is_not(None), 1), else_=0).label("escalated"),
            # kpi.TicketFact.escalation_us: creation -> the first forwarding (routing beyond 1st level); NULL for
            # a ticket with SLA escalations only
            _micros_between(dialect, g.routed_at, t.created_at).label("us"),
        )
        .join(tickets, t.id == g.ticket_id)
        .where(cohort)
        .cte("firsts")  # computed once, read twice: by the groups and by the escalation times
    )
    f = firsts.c
    keys = (t.category_id, t.priority, t.channel, t.status)
    forwarded_keys = (f.category_id, f.priority, f.channel, f.status, f.routed, f.escalated)
    if dialect == "postgresql":  # one row: the micros as an array
        no_times: Any = sql_cast(null(), ARRAY(BigInteger))  # typed: a UNION resolves its types pairwise
        times: Any = select(literal(2), *[null()] * 7, func.array_agg(f.us)).where(f.us.is_not(None))
    else:  # a row per forwarded ticket
        no_times = null()
        times = select(literal(2), *[null()] * 7, f.us).where(f.us.is_not(None))
    created_groups = select(literal(0), *keys, null(), null(), func.count(), no_times).where(cohort).group_by(*keys)
    forwarded_groups = select(literal(1), *forwarded_keys, func.count(), no_times).group_by(*forwarded_keys)
    statement = union_all(created_groups, forwarded_groups.select_from(firsts), times.select_from(firsts))
    (rows,) = await run_all(db, [statement])
    async with db.engine.connect() as conn:
        top = await _top_levels(conn, tenant)

    micros: list[int] = []
    by_category: Counter[str] = Counter()
    by_priority: Counter[str] = Counter()
    by_channel: Counter[str] = Counter()
    routed_n: Counter[str] = Counter()
    escalated_n: Counter[str] = Counter()
    by_status: Counter[str | None] = Counter()
    routed_by_status: Counter[str | None] = Counter()
    for kind, category_id, priority, channel, status, was_routed, was_escalated, count, us in rows:
        if kind == 2:
            if isinstance(us, list):
                micros.extend(us)
            elif us is not None:
                micros.append(us)
            continue
        n = int(count)
        category = _category(top, tenant, category_id)
        if kind == 0:
            by_category[category] += n
            by_priority[kpi.priority_key(priority)] += n
            by_channel[channel] += n
            by_status[status] += n
            continue
        if was_routed:
            routed_n[category] += n
            routed_by_status[status] += n
        if was_escalated:
            escalated_n[category] += n
    kpis = kpi.TicketKpis.counted(
        by_category=by_category,
        by_priority=by_priority,
        by_channel=by_channel,
        routed_by_category=routed_n,
        escalated_by_category=escalated_n,
        escalation_s=[int(v) / 1_000_000 for v in micros],
    )
    pairs = Counter({(status, False): n - routed_by_status[status] for status, n in by_status.items()})
    pairs.update({(status, True): n for status, n in routed_by_status.items()})
    fcr = kpi.first_contact_resolution_counted(pairs)
    return TicketAggregates(kpis, fcr)
