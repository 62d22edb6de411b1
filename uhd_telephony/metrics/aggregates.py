"""SQL aggregates of one tenant's period: the monthly report's KPIs without a million rows through Python.

``queries.call_kpis`` streams every stay through ``kpi.CallTally``: exact, and fine for a day, but a month of a
big tenant (a million stays) takes seconds. Here the database counts and Python classifies what it counted:

- business hours: ``kpi.business_spans`` turns the tenant's calendar into the period's business spans in UTC
  (the ``Calendar.day_spans`` that ``kpi.in_business_hours`` tests against). No calendar (or a 24/7 one): every
  stay is in business hours;
- PostgreSQL counts stays per (outcome, bucket of entry): ``date_bin`` buckets of the widest width that divides
  an hour and that no span's edge falls inside (``_bucket``: half an hour for a calendar of whole and half hours),
  so each bucket lies in one UTC hour and wholly inside or outside business hours, and Python tells which. SQLite
  counts per (outcome, UTC hour of entry, in business hours), testing each stay against the spans (OR'd ranges).
  Each group is classified by ``kpi.CallTally.count``, the classification ``CallTally.add`` applies per stay,
  and placed in the weekday x hour grid by ``kpi.weekday_hour`` — Berlin's offsets are whole hours, so every UTC
  hour lies in one Berlin hour;
- "within the service level" is the SQL twin of ``kpi.within_service_level`` (``wait_s <= T``, the contract's T);
- the contract (``tenants.contract``): a period across a contract change is counted part by part, each by its
  rules (``kpi.CallTally.next_part``); the contract's queues are a filter of every statement (the stays of other
  queues counted apart, ``not_under_contract``); its short-abandon threshold reclassifies the abandons of each
  group from two more counts (``kpi.split_abandons``: waits below it, waits at all); calls outside business hours
  that the contract counts make every stay a business-hours one (``closed`` stays apart, by its outcome);
- transfers in (a business-hours stay whose linkedid had an earlier ``transferred`` stay, in the (entered_at, id)
  order of ``queries.call_kpis``) and conversations (distinct linkedids of offered stays) are counted in SQL; on
  PostgreSQL in one statement, which tests each stay against the spans as one ``tstzmultirange``
  (``entered_at <@ spans``, a binary search);
- durations are NOT aggregated in SQL: the database returns the offered answered stays' waits and talks and
  ``kpi.Distribution.of`` takes mean (``fsum``), median and p90 (nearest rank) of them, so the figures are
  kpi.py's to the last bit. PostgreSQL sends them per bucket as strings of binary doubles (``float8send``) that
  numpy reads and sorts in C; Distribution.of's own sort of a sorted list is then linear. Ticket escalation times
  likewise, in whole microseconds.

PostgreSQL runs the independent statements side by side, each on a pooled connection of its own (``run_all``):
the server works them on its cores in parallel, one scan each, without parallel workers of its own (on a
small server they would only compete with the report's other statements).

``tests/metrics/test_aggregates.py`` proves ``call_kpis`` / ``ticket_kpis`` here equal to ``queries.call_kpis``
and ``kpi.ticket_kpis`` over the same stored rows, on SQLite and PostgreSQL, with and without a calendar. Only
the default view is aggregated (all of the contract's queues, transfers in included); the KPI API serves the
other views.
"""

from __future__ import annotations

import asyncio
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Interval,
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
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import TSTZMULTIRANGE, Range, distinct_on
from sqlalchemy.orm import aliased

from uhd_telephony.calls.records import ANSWERED_OUTCOMES, Outcome
from uhd_telephony.metrics import kpi
from uhd_telephony.metrics.queries import (
    TENANT_CALENDAR,
    TENANT_CONTRACT,
    CalendarChoice,
    RulesChoice,
    _category,
    _escalation,
    _micros_between,
    _outcome,
    _routed_beyond_first_level,
    _top_levels,
    calls,
    history,
    resolve_calendar,
    resolve_rules,
    tickets,
)
from uhd_telephony.store.db import Database

_ANSWERED = sorted(o.value for o in ANSWERED_OUTCOMES)
_NOT_OFFERED = sorted(o.value for o in kpi.NOT_OFFERED_OUTCOMES)
# each statement of the report on PostgreSQL: one scan, no parallel workers (run_all runs the statements side by
# side: that is the parallelism), enough memory to hash a month without spilling, no JIT (compiling costs more
# than it saves on a scan of a million narrow rows), and a plan for these very parameters every time: asyncpg
# prepares the statements, and from the sixth execution on PostgreSQL may choose a generic plan that knows
# neither the tenant nor the period (measured: 4.4 s instead of 1.1 s)
_PG_SETTINGS = text(
    "SELECT set_config('max_parallel_workers_per_gather', '0', true), set_config('work_mem', '64MB', true),"
    " set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true)"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the origin of the buckets of entry times (whole UTC hours from it)
_INSTANT = DateTime(timezone=True)
_HOUR_US = 3_600_000_000
_MICROSECOND = timedelta(microseconds=1)
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
    service_level_s: float | None = None,
    calendar: CalendarChoice = TENANT_CALENDAR,
    rules: RulesChoice = TENANT_CONTRACT,
) -> kpi.CallKpis:
    """The call KPIs of the tenant's stays that entered a queue in ``[start, end)`` (= ``queries.call_kpis``);
    business hours by ``calendar`` (default: the tenant's calendar), counted by ``rules`` (default: the tenant's
    contract, each part of the period by its own; ``service_level_s``: another T for every part)."""
    business = await resolve_calendar(db, tenant, calendar)
    parts = await resolve_rules(db, tenant, start, end, rules)
    tally = kpi.CallTally(parts[0].rules, service_level_s=service_level_s)
    waits: list[Any] = []
    talks: list[Any] = []
    for n, part in enumerate(parts):
        if n:
            tally.next_part(part.rules)
        await _count_part(db, tenant, part.start, part.end, business, tally, waits, talks)
    if db.engine.dialect.name == "postgresql":
        # up to a million values each: read and sorted off the event loop
        reaction, talk = await asyncio.to_thread(_binary_distributions, b"".join(waits), b"".join(talks))
    else:
        reaction, talk = await asyncio.to_thread(_distributions, waits, talks)
    return replace(tally.result(), reaction_time=reaction, talk_time=talk)


def _contract_queues(rules: kpi.KpiRules, column: Any) -> ColumnElement[bool] | None:
    """SQL for ``rules.counts_queue`` (None: every queue counts)."""
    return None if rules.queues is None else column.in_(sorted(rules.queues))


def _abandon_counts(dialect: str, short_abandon_s: float) -> list[Any]:
    """Per group: the stays that waited less than the short-abandon threshold, and those with a wait at all
    (``kpi.split_abandons`` reclassifies the abandons from them)."""
    c = calls.c
    if dialect == "postgresql":
        return [func.count().filter(c.wait_s < short_abandon_s).label("below"), func.count(c.wait_s).label("waited")]
    return [
        func.sum(case((c.wait_s < short_abandon_s, 1), else_=0)).label("below"),
        func.count(c.wait_s).label("waited"),
    ]


def _count_groups(
    tally: kpi.CallTally, outcome: Outcome | None, at: float, business: bool, n: int, within: int, below: int,
    waited: int,
) -> bool:  # fmt: skip
    """One SQL group counted by the contract: its abandons reclassified by their waits (``kpi.split_abandons``).
    True when it was offered."""
    pairs = kpi.split_abandons(outcome, n, below, waited, tally.rules)
    if len(pairs) == 1:
        return tally.count(pairs[0][0], at, business, pairs[0][1], within)
    counted = False
    for reclassified, k in pairs:
        counted = tally.count(reclassified, at, business, k) or counted
    return counted


async def _count_part(
    db: Database, tenant: str, start: datetime, end: datetime, calendar: Any, tally: kpi.CallTally,
    waits: list[Any], talks: list[Any],
) -> None:  # fmt: skip
    """Count ``[start, end)`` (one set of rules: ``tally.rules``) into ``tally``; the answered stays' waits and talks
    into ``waits`` and ``talks`` (PostgreSQL: binary doubles; SQLite: floats)."""
    rules = tally.rules
    spans = None if rules.outside_hours_count else kpi.business_spans(calendar, start, end)
    dialect = db.engine.dialect.name
    c = calls.c
    mine = and_(c.tenant == tenant, c.entered_at >= start, c.entered_at < end)
    queues = _contract_queues(rules, c.queue)
    period = mine if queues is None else and_(mine, queues)
    inside = None if spans is None else _within_spans(dialect, c.entered_at, spans)
    offered = and_(period, c.outcome.is_not(None), c.outcome.not_in(_NOT_OFFERED))  # is_offered
    if inside is not None:
        offered = and_(offered, inside)
    outside_contract = [] if queues is None else [select(func.count()).where(mine, ~queues)]
    if dialect == "postgresql":
        await _count_part_pg(db, tenant, start, end, spans, period, offered, tally, waits, talks, outside_contract)
        return
    keys: list[Any] = [c.outcome, _hour_index(dialect, c.entered_at).label("hour")]
    if spans and inside is not None:  # None: all stays in business hours, []: none (no constant: SQLite reads
        keys.append(inside.label("inside"))  # a constant in GROUP BY as a column number)
    groups = (
        select(
            *keys,
            func.count().label("n"),
            func.sum(case((c.wait_s <= rules.service_level_s, 1), else_=0)).label("within"),
            *_abandon_counts(dialect, rules.short_abandon_s),
        )
        .where(period)
        .group_by(*keys)
    )
    earlier = aliased(calls, name="earlier")
    e = earlier.c
    earlier_queues = _contract_queues(rules, e.queue)
    transfer_in = exists().where(
        e.tenant == tenant,
        e.entered_at >= start,
        e.entered_at < end,
        e.linkedid == c.linkedid,
        e.outcome == Outcome.TRANSFERRED.value,
        or_(e.entered_at < c.entered_at, and_(e.entered_at == c.entered_at, e.id < c.id)),
        *([] if earlier_queues is None else [earlier_queues]),
    )
    answered = and_(offered, c.outcome.in_(_ANSWERED))
    linkedids = select(c.linkedid).where(offered).group_by(c.linkedid).subquery()
    group_rows, transfer_rows, conversation_rows, wait_rows, talk_rows, *apart = await run_all(
        db,
        [
            groups,
            select(func.count()).where(offered, transfer_in),
            select(func.count()).select_from(linkedids),
            select(c.wait_s).where(answered, c.wait_s.is_not(None)),
            select(c.talk_s).where(answered, c.talk_s.is_not(None)),
            *outside_contract,
        ],
    )
    for row in group_rows:
        business = bool(row.inside) if spans else spans is None
        _count_groups(
            tally, _outcome(row.outcome), _hours(row.hour) * 3600, business, int(row.n), int(row.within or 0),
            int(row.below or 0), int(row.waited or 0),
        )  # fmt: skip
    # transfers in, conversations and durations were counted in SQL, not per stay
    tally.transfers_in += int(transfer_rows[0][0])
    tally.conversations_before += int(conversation_rows[0][0])
    tally.not_under_contract += sum(int(rows[0][0]) for rows in apart)
    waits.extend(r[0] for r in wait_rows)
    talks.extend(r[0] for r in talk_rows)


def _bucket(spans: Sequence[kpi.Span] | None) -> timedelta:
    """The widest bucket of entry times (``date_bin`` from the epoch) that divides an hour and that no span's edge
    falls inside: each bucket lies in one UTC hour and wholly inside or wholly outside business hours."""
    step = _HOUR_US
    for edge in (t for span in spans or () for t in span):
        step = math.gcd(step, (edge - _EPOCH) // _MICROSECOND)
    return timedelta(microseconds=step)


def _in_spans(spans: Sequence[kpi.Span] | None, starts: Sequence[datetime], at: datetime) -> bool:
    """Whether ``at`` lies in one of the sorted, disjoint ``spans`` (None: every instant does)."""
    if spans is None:
        return True
    i = bisect_right(starts, at) - 1
    return i >= 0 and at < spans[i][1]


async def _count_part_pg(
    db: Database, tenant: str, start: datetime, end: datetime, spans: Sequence[kpi.Span] | None,
    period: ColumnElement[bool], offered: ColumnElement[bool], tally: kpi.CallTally, waits: list[Any],
    talks: list[Any], outside_contract: list[Any],
) -> None:  # fmt: skip
    """PostgreSQL: two scans side by side, the stays per (bucket, outcome) with their waits and talks, and the
    conversations and transfers in (``_linked_pg``); a third for the stays of queues outside the contract."""
    c = calls.c
    rules = tally.rules
    bucket = func.date_bin(literal(_bucket(spans), Interval()), c.entered_at, literal(_EPOCH, _INSTANT))
    answered = c.outcome.in_(_ANSWERED)
    empty = literal(b"", LargeBinary)
    groups = (
        select(
            bucket.label("bucket"),
            c.outcome,
            func.count().label("n"),
            func.count().filter(c.wait_s <= rules.service_level_s).label("within"),
            *_abandon_counts("postgresql", rules.short_abandon_s),
            func.string_agg(func.float8send(c.wait_s), empty).filter(answered, c.wait_s.is_not(None)).label("waits"),
            func.string_agg(func.float8send(c.talk_s), empty).filter(answered, c.talk_s.is_not(None)).label("talks"),
        )
        .where(period)
        .group_by(bucket, c.outcome)
    )
    group_rows, ((conversations, transfers_in),), *apart = await asyncio.gather(
        rows_of(db, groups),
        rows_of(db, _linked_pg(tenant, start, end, offered, rules.queues)),
        *(rows_of(db, stmt) for stmt in outside_contract),
    )
    starts = [s for s, _ in spans or ()]
    for bucket, stored, n, within, below, waited, bucket_waits, bucket_talks in group_rows:
        outcome = _outcome(stored)
        business = _in_spans(spans, starts, bucket)  # the bucket's start tells for all of it
        counted = _count_groups(tally, outcome, bucket.timestamp(), business, int(n), int(within), int(below),
                                int(waited))  # fmt: skip
        if counted and kpi.is_answered(outcome):  # True: offered
            waits.append(bucket_waits or b"")
            talks.append(bucket_talks or b"")
    tally.transfers_in += int(transfers_in)
    tally.conversations_before += int(conversations)
    tally.not_under_contract += sum(int(rows[0][0]) for rows in apart)


def _linked_pg(
    tenant: str, start: datetime, end: datetime, offered: ColumnElement[bool], queues: frozenset[str] | None
) -> Any:
    """PostgreSQL: the offered stays' conversations (distinct linkedids) and transfers in, in one scan.

    A transfer in is a stay whose linkedid's FIRST transferred stay of the period came before it: the first
    transferred stay per linkedid (a few percent of the stays) is hashed once and each offered stay looks
    its linkedid up, instead of an EXISTS per stay.
    """
    c = calls.c
    earlier = aliased(calls, name="earlier")
    e = earlier.c
    first = (
        select(e.linkedid, e.entered_at, e.id)
        .where(
            e.tenant == tenant,
            e.entered_at >= start,
            e.entered_at < end,
            e.outcome == Outcome.TRANSFERRED.value,
            *([] if queues is None else [e.queue.in_(sorted(queues))]),
        )
        .ext(distinct_on(e.linkedid))
        .order_by(e.linkedid, e.entered_at, e.id)
        .subquery("first_transfer")
    )
    f = first.c
    transfer_in = or_(f.entered_at < c.entered_at, and_(f.entered_at == c.entered_at, f.id < c.id))
    return (
        select(
            # distinct linkedids, sorted bytewise (equality is the same under any deterministic collation) and
            # reversed: Asterisk's ids (epoch.sequence) share their first bytes for minutes, and the sort compares
            # the first eight bytes first (abbreviated keys): reversed, the fast-changing digits come first (1.5x
            # cheaper). Reversing is one-to-one: as many distinct values as before
            func.count(distinct(func.reverse(c.linkedid).collate("C"))),
            func.count().filter(transfer_in),  # NULL without an earlier transfer: not counted
        )
        .select_from(calls.outerjoin(first, f.linkedid == c.linkedid))
        .where(offered)
    )


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

    One scan of the cohort, each ticket joined to its first routing beyond 1st level and first escalation
    (``first``, from the history rows of the cohort's tickets), counted per (category, priority, channel, status,
    routed, escalated) with the forwarded tickets' escalation times (PostgreSQL: an array per group; SQLite: a
    second statement, a row per forwarded ticket).
    """
    t = tickets.c
    cohort = and_(t.tenant == tenant, t.created_at >= start, t.created_at < end)
    routed, escalated = _routed_beyond_first_level(), _escalation()
    dialect = db.engine.dialect.name
    h = history.c
    first = (
        select(
            h.ticket_id,
            func.min(case((routed, h.at))).label("routed_at"),
            func.min(case((escalated, h.at))).label("escalated_at"),
        )
        # the cohort's tickets only: never the whole history of every tenant (the daily KPI writer runs this per
        # tenant and day every few minutes); their few rows of these actions come from a partial index
        # (metrics.models: ix_ticket_history_forwarding), not from every row of their history
        .where(or_(routed, escalated), h.ticket_id.in_(select(t.id).where(cohort)))
        .group_by(h.ticket_id)
        .subquery("first")
    )
    g = first.c
    joined = tickets.outerjoin(first, g.ticket_id == t.id)
    # kpi.TicketFact.escalation_us: creation -> the first forwarding (routing beyond 1st level)
    us = _micros_between(dialect, g.routed_at, t.created_at)
    keys = (t.category_id, t.priority, t.channel, t.status, g.routed_at.is_not(None), g.escalated_at.is_not(None))
    if dialect == "postgresql":
        stmt = (
            select(*keys, func.count(), func.array_agg(us).filter(g.routed_at.is_not(None)))
            .select_from(joined)
            .where(cohort)
            .group_by(*keys)
        )
        (rows,) = await run_all(db, [stmt])
    else:
        groups = select(*keys, func.count(), null()).select_from(joined).where(cohort).group_by(*keys)
        times = select(*[null()] * 7, us).select_from(joined).where(cohort, g.routed_at.is_not(None))
        rows = [r for part in await run_all(db, [groups, times]) for r in part]
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
    for category_id, priority, channel, status, was_routed, was_escalated, count, us_values in rows:
        if isinstance(us_values, list):
            micros.extend(us_values)
        elif us_values is not None:
            micros.append(us_values)
        if count is None:  # SQLite: an escalation time
            continue
        n = int(count)
        category = _category(top, tenant, category_id)
        by_category[category] += n
        by_priority[kpi.priority_key(priority)] += n
        by_channel[channel] += n
        by_status[status] += n
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
