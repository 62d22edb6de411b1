"""The monthly report of one tenant over a big month in PostgreSQL, SLA data included: how long JSON and HTML take.

    python bench/monthly_report.py [--calls 1000000] [--tickets 300000] [--escalations 30000] [--runs 3]
                                   [--dsn postgresql://postgres@127.0.0.1/test] [--verify] [--around-the-clock]
                                   [--keep | --reuse NAME]

The data. A throwaway database (dropped afterwards), migrated; the tenant's SLA imported as the service imports
it (business calendar weekdays 06:30-17:00, North Rhine-Westphalia's holidays, one extra closed day; targets per
priority, priority 1 around the clock; warnings at 75 %; contacts per level, one for the KIS branch;
``--around-the-clock``: a stored 24/7 calendar, so every stay is in business hours). Then COPY (asyncpg
``copy_records_to_table``):

- ``--calls`` queue stays of one tenant in November 2026: 90 % in business hours, the rest at any time and then
  mostly closed by the dialplan; every outcome, 5 % blind transfers (the same linkedid in a second queue), calls at
  the month's edges; 2 % of them in October and December and another tenant; ids as Asterisk gives them
  (``1793888543.49537``: the linkedid, sorted and hashed by the report, shares its first bytes for minutes);
- ``--tickets`` tickets of the month, each with its life as of 01.12.2026 06:00 (``story``: first response, a
  wait on the caller for some, resolution, closing, as business time on its priority's SLA clock) and the rows
  the service writes for it: ``created``, ``status`` (new → in_progress → waiting → … → resolved → closed),
  ``routed``; its ``sla_timers`` row as the scanner leaves it (the next due instant; NULL while it waits on the
  caller, once resolved, or when nothing is ahead); and ``--escalations`` escalations where a target was not
  met by its due instant (fired up to one scan later; both kinds and targets, level 1 for warnings and 2 for
  breaches, the contacts told), some acknowledged by a manager, some taken back by one, the rest taken back when
  the ticket was resolved — each with its ``escalated``, ``acknowledged`` and ``de-escalated`` history row. The
  business-time arithmetic is ``sla.calendar``'s (checked against ``add_business_time`` on samples).

``VACUUM ANALYZE`` after the load: what autovacuum does after a bulk insert (statistics, the visibility map).

What it times, each case once per run, the order rotated from run to run so the machine's noise falls on all:

- the report as the API produces it (``report.produce``: the figures, then the text), JSON and HTML;
- baseline: the report's call and ticket figures alone, read as ``report.build`` reads them (the tenant's calendar,
  then ``aggregates.call_kpis`` and ``ticket_kpis`` side by side): the report without its SLA section, what it was
  before there were SLA data;
- the SLA section alone as the report reads it (``sla.sla_aggregates``: counted in SQL), and as baseline the same
  figures row by row (``sla.sla_facts`` + ``sla_kpis``: every escalation through Python, the report's previous
  form and the definition).

It prints every run, then per case median, best and worst with the number of runs and — the server on this
machine — the CPU seconds it cost (its PostgreSQL backends + this process, executor threads included: steadier
than the wall time under the machine's other load, not independent of it), the machine's load average before and
after, and the ratios of the medians. The report's connections come from a pool of ten kept open (the service
opens five of them on demand: a connection opened and closed within a case would take its backend's CPU time
along).

``--verify`` also streams the month through ``kpi.CallTally`` (``queries.call_kpis``, the KPI API's path) and
``kpi.ticket_kpis``, reads the SLA section row by row, and checks the report's figures are the same and its SLA
section counts every stored timer and escalation. Target: the report under 2 s at 1,000,000 calls, 300,000 tickets
with their timers and 30,000 escalations. ``--keep`` leaves the loaded database behind, ``--reuse NAME`` times it
again without loading.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import math
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import select, text

from uhd_telephony.metrics import aggregates, kpi, queries, report, sla
from uhd_telephony.sla.calendar import Calendar, add_business_time
from uhd_telephony.sla.policy import contacts_for, import_sla, load_sla
from uhd_telephony.store.db import PG_MAX_OVERFLOW, PG_POOL_SIZE, Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, categories, import_categories
from uhd_telephony.tickets.history import iso

TENANT, OTHER = "klinikum-nord", "klinikum-sued"
MONTH = "2026-11"
AS_OF = datetime(2026, 12, 1, 6, 0, tzinfo=kpi.TIMEZONE)  # the data as of then: the report's morning
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
CALENDAR = {"hours": {d: ["06:30-17:00"] for d in WEEKDAYS}, "holidays": {"state": "NW"}, "closed": ["2026-11-11"]}
WEBHOOK_SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
SLA = {
    "calendar": CALENDAR,
    "unclassified_priority": 3,
    "warning_at": 0.75,
    "levels": {"warning": 1, "breach": 2},
    "policies": {
        1: {"response": "15m", "resolution": "4h", "calendar": "24/7"},
        2: {"response": "30m", "resolution": "8h"},
        3: {"response": "1h", "resolution": "16h"},
        4: {"response": "4h", "resolution": "31h30m"},  # three business days of 10.5 hours
        5: {"response": "8h", "resolution": "52h30m"},  # five
    },
    "contacts": [
        {"name": "Teamleitung Service Desk", "level": 1, "mail": ["teamleitung@klinik-it.example"]},
        {"name": "KIS-Verantwortliche", "level": 1, "category": "kis", "mail": ["kis@klinik-it.example"]},
        {"name": "IT-Leitung", "level": 2, "mail": ["it-leitung@klinik-it.example"],
         "webhook": {"url": "https://leitstand.klinik-it.example/sla", "secret": WEBHOOK_SECRET}},
    ],
}  # fmt: skip
ESCALATIONS = 30_000  # the month's escalations (the default of --escalations)
# the tickets' lives (``story``): business time to the first response and to the resolution as shares of the
# targets (exponential, these means), a wait on the caller for some, closing after the resolution
RESPONSE_MEAN, RESOLUTION_MEAN = 0.22, 0.28
WAITING_SHARE, WAIT_MEAN_S, CLOSE_MEAN_S = 0.2, 1.5 * 86400, 3 * 86400
SCAN_S = 15.0  # the SLA scanner's period: an escalation fires up to this long after its due instant
ACK_SHARE, ACK_MEAN_S = 0.6, 40 * 60  # escalations a manager acknowledges, and how soon
TAKE_BACK_SHARE, TAKE_BACK_MEAN_S = 0.05, 2 * 3600  # taken back by a manager before the ticket is resolved
TAKE_BACK_REASONS = ("Rückruf vereinbart, Anrufer informiert", "Hersteller-Ticket offen, Termin steht", "Fehlalarm")
AGENTS = tuple(f"agent:{i}" for i in range(10, 40))
MANAGERS = ("agent:2", "agent:3", "agent:4")
IN_HOURS = 0.9  # the share of calls placed in business hours; the others anywhere in the month
OUTCOMES = [
    ("answered", 70),
    ("transferred", 0),  # made by the transfer pairs below
    ("abandoned", 9),
    ("short_abandon", 4),
    ("timeout", 3),
    ("overflow", 1),
    ("refused", 1),
    ("exit_key", 1),
    ("callback", 1),
    ("unknown", 0.2),
    ("closed", 5),
]
CALL_COLUMNS = (
    "call_id", "linkedid", "uniqueid", "tenant", "queue", "channel", "caller_number", "caller_name", "dialled",
    "entered_at", "answered_at", "ended_at", "wait_s", "talk_s", "agent", "outcome", "callback_requested",
    "position", "ring_attempts", "variables", "resynced",
)  # fmt: skip
TICKET_COLUMNS = (
    "id", "number", "tenant", "status", "channel", "subject", "description", "requester_number", "requester_name",
    "vip", "category_id", "priority", "created_at", "updated_at", "support_group", "first_response_at",
    "resolved_at", "closed_at",
)  # fmt: skip
HISTORY_COLUMNS = ("ticket_id", "at", "actor", "action", "field", "old_value", "new_value", "note")
TIMER_COLUMNS = ("ticket_id", "tenant", "next_due_at", "computed_at")
ESCALATION_COLUMNS = (
    "id", "ticket_id", "tenant", "kind", "target", "level", "due_at", "fired_at", "category_id", "priority",
    "notified", "acknowledged_by", "acknowledged_at", "de_escalated_by", "de_escalated_at", "reason",
)  # fmt: skip


def call_rows(n: int, rng: random.Random, calendar: Calendar | None) -> list[tuple]:
    start, end = report.month_period(MONTH)
    span = (end - start).total_seconds()
    names = [o for o, _ in OUTCOMES if o != "closed"]
    weights = [w for o, w in OUTCOMES if o != "closed"]
    closed_share = dict(OUTCOMES)["closed"] / 100
    spans = kpi.business_spans(calendar, start, end) or [(start, end)]
    lengths = [(e - s).total_seconds() for s, e in spans]
    rows: list[tuple] = []

    def add(tenant: str, at: datetime, outcome: str, linkedid: str, queue: str = "hotline") -> None:
        wait = round(rng.expovariate(1 / 18), 3) if outcome != "closed" else None
        answered = outcome in ("answered", "transferred")
        talk = round(rng.expovariate(1 / 240), 3) if answered else None
        entered = at.astimezone(UTC)
        ended = entered + timedelta(seconds=(wait or 0) + (talk or 0) + 1)
        rows.append(
            (
                f"{linkedid}@{queue}", linkedid, linkedid, tenant, queue, "PJSIP/trunk-1", "+4923198600", "", "100",
                entered, entered + timedelta(seconds=wait or 0) if answered else None, ended, wait, talk,
                "Anna" if answered else None, outcome, outcome == "callback", 1, "[]", "{}", False,
            )
        )  # fmt: skip

    while len(rows) < n:
        if rng.random() < IN_HOURS:
            s, e = rng.choices(spans, lengths)[0]
            at = s + (e - s) * rng.random()
        else:
            at = start + timedelta(seconds=rng.random() * span)
        business = kpi.in_business_hours(at.timestamp(), calendar)
        tenant = OTHER if rng.random() < 0.01 else TENANT
        if rng.random() < 0.01:  # a little of October and December
            at += timedelta(days=rng.choice((-31, 31)))
        # Asterisk's ids: the caller's channel's uniqueid (epoch.sequence), which is also the call's linkedid; a blind
        # transfer moves the same channel into the second queue
        linkedid = f"{int(at.timestamp())}.{len(rows)}"
        if rng.random() < 0.05:  # a blind transfer: answered in the hotline, on into the 2nd-level queue
            add(tenant, at, "transferred", linkedid)
            add(tenant, at + timedelta(seconds=90), rng.choice(("answered", "answered", "abandoned")), linkedid, "l2")
        elif rng.random() < (0.7 if not business else closed_share if calendar is None or calendar.always else 0.0):
            add(tenant, at, "closed", linkedid)  # the dialplan's HotlineClosed (now and then queued all the same)
        else:
            add(tenant, at, rng.choices(names, weights)[0], linkedid)
    return rows[:n]


class BusinessClock:
    """Business seconds of a calendar as a running total over its precomputed spans: ``instant(offset(t) + d)`` is
    ``sla.calendar.add_business_time(calendar, t, d)`` in O(log n) (that one takes ~22 µs a call, and the load
    needs about a million); ``check`` compares the two on samples. ``None``: around the clock."""

    def __init__(self, calendar: Calendar | None, start: datetime, end: datetime) -> None:
        self.calendar = calendar
        spans = kpi.business_spans(calendar, start, end) or [(start, end)]
        self.starts = [s.timestamp() for s, _ in spans]
        self.ends = [e.timestamp() for _, e in spans]
        # business seconds before each span (and after the last one)
        self.totals = list(
            itertools.accumulate((e - s for s, e in zip(self.starts, self.ends, strict=True)), initial=0.0)
        )

    def offset(self, t: float) -> float:
        """Business seconds from the window's start to ``t``."""
        i = bisect.bisect_right(self.starts, t) - 1
        return 0.0 if i < 0 else self.totals[i] + min(t, self.ends[i]) - self.starts[i]

    def instant(self, offset: float) -> float:
        """The earliest instant by which ``offset`` business seconds have passed (inf: beyond the window)."""
        i = bisect.bisect_left(self.totals, offset) - 1
        return math.inf if i >= len(self.starts) else self.starts[max(i, 0)] + offset - self.totals[max(i, 0)]

    def check(self, rng: random.Random, start: datetime, samples: int = 500) -> None:
        calendar = self.calendar or Calendar.around_the_clock()
        for _ in range(samples):
            at = start + timedelta(seconds=rng.random() * 30 * 86400)
            seconds = rng.choice((900, 3600, 6 * 3600, 57_600, 3 * 86400)) * rng.random() + 1
            theirs = add_business_time(calendar, at, timedelta(seconds=seconds)).timestamp()
            ours = self.instant(self.offset(at.timestamp()) + seconds)
            assert abs(theirs - ours) < 0.001, (at, seconds, theirs, ours)


@dataclass(slots=True)
class Story:
    """What happened to one ticket up to ``AS_OF`` (epoch seconds; None: not yet)."""

    created: float
    responded: float | None = None  # the first response: new -> in_progress
    waiting: tuple[float, float | None] | None = None  # in_progress -> waiting -> in_progress (None: still waiting)
    resolved: float | None = None
    closed: float | None = None
    # (target, kind, due, fired) of the escalations the scanner fired, in firing order
    fired: list[tuple[str, str, float, float]] = field(default_factory=list)
    next_due: float | None = None  # the timer's next due instant as the scanner left it
    computed: float = 0.0  # the timer's last write

    @property
    def status(self) -> str:
        if self.closed is not None:
            return "closed"
        if self.resolved is not None:
            return "resolved"
        if self.waiting is not None and self.waiting[1] is None:
            return "waiting"
        return "in_progress" if self.responded is not None else "new"


def story(rng: random.Random, created: float, policy: dict[str, float], clock: BusinessClock, *, met: bool) -> Story:
    """A ticket's life under its policy on the SLA clock (business time, standing still while it waits on the
    caller), as of ``AS_OF``: the scanner's escalations at their due instants (+ up to one scan period) where a
    target was not met by then, and the timer's next due instant. ``met``: answered and resolved within the
    warning share of both targets (no escalation)."""
    as_of = AS_OF.timestamp()
    response, resolution = policy["response"], policy["resolution"]
    start = clock.offset(created)
    if met:
        r = rng.uniform(0.02, 0.6) * response
        s = max(r, rng.uniform(0.05, 0.6) * resolution)
    else:
        r = rng.expovariate(1 / (RESPONSE_MEAN * response))
        s = max(r, rng.expovariate(1 / (RESOLUTION_MEAN * resolution)))
    pause: tuple[float, float, float] | None = None  # (business offset, from, until)
    if rng.random() < WAITING_SHARE and s > r:
        b = start + r + rng.random() * (s - r)
        since = clock.instant(b)
        pause = (b, since, since + rng.expovariate(1 / WAIT_MEAN_S))

    def running(x: float) -> float:
        """The instant the running clock reaches business offset ``x`` (resumed after the wait)."""
        if pause is None or x <= pause[0]:
            return clock.instant(x)
        return clock.instant(clock.offset(pause[2]) + x - pause[0])

    responded, resolved = clock.instant(start + r), running(start + s)
    told = Story(created)
    told.responded = responded if responded <= as_of else None
    if pause is not None and pause[1] <= as_of:
        told.waiting = (pause[1], pause[2] if pause[2] <= as_of else None)
    if resolved <= as_of:
        told.resolved = resolved
        closed = resolved + rng.expovariate(1 / CLOSE_MEAN_S)
        told.closed = closed if rng.random() < 0.7 and closed <= as_of else None
    ahead: list[float] = []
    for target, limit, done in (("response", response, responded), ("resolution", resolution, resolved)):
        for kind, share in (("warning", policy["warn_share"]), ("breach", 1.0)):
            due = running(start + limit * share)
            fired = due + rng.uniform(0.05, SCAN_S)  # the next scan after the due instant
            if fired < done and fired <= as_of:
                told.fired.append((target, kind, due, fired))
            elif done > as_of and fired > as_of:  # not met, not fired yet: the timer's
                ahead.append(due)
    told.fired.sort(key=lambda f: f[3])
    events = [created, *(f[3] for f in told.fired)]
    events += [t for t in (told.responded, told.resolved) if t is not None]
    if told.waiting is not None:
        events += [t for t in told.waiting if t is not None]
    told.computed = max(events)
    running_now = told.resolved is None and (told.waiting is None or told.waiting[1] is not None)
    told.next_due = min(ahead) if ahead and running_now else None
    return told


def _hm(seconds: float) -> str:
    """A target as the escalation's history note writes it (``sla.escalation._hm``)."""
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(round(t, 6), UTC)


@dataclass
class Load:
    """The rows to COPY."""

    tickets: list[tuple] = field(default_factory=list)
    history: list[tuple] = field(default_factory=list)
    timers: list[tuple] = field(default_factory=list)
    escalations: list[tuple] = field(default_factory=list)
    load_s: float = 0.0


async def ticket_rows(url: str, n: int, rng: random.Random, calendar: Calendar | None, cap: int) -> Load:
    """``n`` tickets of the month with their history, SLA timers and up to ``cap`` escalations (see ``story``)."""
    db = Database(url)
    try:
        await import_categories(db, TENANT, DEFAULT_CATEGORIES)
        async with db.engine.connect() as conn:
            rows = await conn.execute(select(categories.c.id, categories.c.path).where(categories.c.tenant == TENANT))
            paths = {r.id: r.path for r in rows}
            sla = await load_sla(conn, TENANT, with_contacts=True)
    finally:
        await db.close()
    assert sla is not None
    start, end = report.month_period(MONTH)
    span = (end - start).total_seconds()
    window = (start - timedelta(days=7), AS_OF + timedelta(days=120))
    clocks = {False: BusinessClock(calendar, *window), True: BusinessClock(None, *window)}
    clocks[False].check(rng, start)
    policies = {
        p: {
            "response": policy.response.total_seconds(),
            "resolution": policy.resolution.total_seconds(),
            "warn_share": policy.warn_share,
            "around_the_clock": policy.around_the_clock,
        }
        for p, policy in sla.policies.items()
    }
    load = Load()
    fired: list[tuple[int, int | None, int | None, str, str, float, float]] = []  # (ticket, category, priority, …)
    stories: dict[int, Story] = {}
    agents: dict[int, str] = {}  # who worked (and resolved) each ticket
    ids = list(paths)
    for tid in range(1, n + 1):
        created = start.timestamp() + rng.random() * span
        category = rng.choice(ids) if rng.random() < 0.9 else None
        priority = rng.choice((1, 2, 3, 3, 4, 5, None))
        policy = policies[priority if priority is not None else sla.unclassified_priority]
        clock = clocks[bool(policy["around_the_clock"])]
        told = story(rng, created, policy, clock, met=len(fired) >= cap)
        if len(fired) + len(told.fired) > cap:  # the month's escalations are ``cap``: this one met its targets
            told = story(rng, created, policy, clock, met=True)
        stories[tid] = told
        fired.extend((tid, category, priority, *f) for f in told.fired)
        group = "1st_level"
        entries: list[tuple] = [(tid, created, "system", "created", "number", None, f"UHD-2026-{tid:07d}", None)]
        r = rng.random()
        if r < 0.25:
            group = rng.choice(("2nd_level", "3rd_level", "partner:pacs"))
            entries.append((tid, created + rng.expovariate(1 / 900), "system", "routed", "support_group", "1st_level",
                            group, None))  # fmt: skip
        elif r < 0.30:
            entries.append((tid, created + 60, "system", "routed", "support_group", "1st_level", "1st_level", None))
        agent = agents[tid] = rng.choice(AGENTS)
        status = "new"
        changes = [(told.responded, "in_progress")]
        if told.waiting is not None:
            changes += [(told.waiting[0], "waiting"), (told.waiting[1], "in_progress")]
        changes += [(told.resolved, "resolved"), (told.closed, "closed")]
        for at, new in changes:
            if at is not None:
                entries.append((tid, at, agent, "status", "status", status, new, None))
                status = new
        load.history.extend(entries)
        tickets_row = (
            tid, f"UHD-2026-{tid:07d}", TENANT, told.status, rng.choice(("phone", "phone", "web", "mail")), "Bench",
            "", "+4923198600", "Bench", False, category, priority, _utc(created), _utc(told.computed), group,
            *(None if t is None else _utc(t) for t in (told.responded, told.resolved, told.closed)),
        )  # fmt: skip
        load.tickets.append(tickets_row)
        next_due = None if told.next_due is None else _utc(told.next_due)
        load.timers.append((tid, TENANT, next_due, _utc(told.computed)))
    # escalation ids in firing order, as the scanner gives them out
    fired.sort(key=lambda f: f[6])
    for eid, (tid, category, priority, target, kind, due, at) in enumerate(fired, start=1):
        told, agent_of = stories[tid], agents[tid]
        level = sla.warning_level if kind == "warning" else sla.breach_level
        told_whom = contacts_for(sla, level, paths.get(category) if category is not None else None)
        notified = [{"name": c.name, "channels": list(c.channels())} for c in told_whom]
        who = ", ".join(f"{c.name} ({'+'.join(c.channels())})" for c in told_whom) or "nobody configured"
        what = f"{target} {kind}"
        limit = policies[priority if priority is not None else sla.unclassified_priority][target]
        note = (
            f"escalation #{eid}: {target} target {_hm(limit)}, {kind} due {iso(_utc(due))}; level {level} notified:"
            f" {who}"
        )
        load.history.append((tid, at, "system", "escalated", "sla", None, what, note))
        manager = rng.choice(MANAGERS)
        end_at = min(t for t in (told.resolved, AS_OF.timestamp()) if t is not None)
        acknowledged = at + rng.expovariate(1 / ACK_MEAN_S)
        ack: tuple[str, float] | None = None
        if rng.random() < ACK_SHARE and acknowledged < end_at:
            ack = (manager, acknowledged)
            text = rng.choice(("", "", "wird bearbeitet", "Techniker ist informiert"))
            load.history.append((tid, acknowledged, manager, "acknowledged", "sla", what, None,
                                 f"escalation #{eid} acknowledged" + (f": {text}" if text else "")))  # fmt: skip
        back: tuple[str, float, str] | None = None
        taken = (ack[1] if ack else at) + rng.expovariate(1 / TAKE_BACK_MEAN_S)
        if rng.random() < TAKE_BACK_SHARE and taken < end_at:
            back = (manager, taken, rng.choice(TAKE_BACK_REASONS))
        elif told.resolved is not None:
            back = (agent_of, told.resolved, "ticket resolved")
        if back is not None:
            ack = ack or (back[0], back[1])
            load.history.append((tid, back[1], back[0], "de-escalated", "sla", what, None,
                                 f"escalation #{eid} taken back: {back[2]}"))  # fmt: skip
        load.escalations.append((
            eid, tid, TENANT, kind, target, level, _utc(due), _utc(at), category, priority, json.dumps(notified),
            *((ack[0], _utc(ack[1])) if ack else (None, None)),
            *((back[0], _utc(back[1]), back[2]) if back else (None, None, None)),
        ))  # fmt: skip
    # appended in time order, as the service writes them (a resolution's de-escalations after its status row)
    load.history.sort(key=lambda h: h[1])
    load.history = [(*h[:1], _utc(h[1]), *h[2:]) for h in load.history]
    return load


async def load(url: str, dsn: str, n_calls: int, n_tickets: int, calendar: Calendar | None, cap: int) -> Load:
    rng = random.Random(6)
    calls = call_rows(n_calls, rng, calendar)
    rows = await ticket_rows(url, n_tickets, rng, calendar, cap)
    t0 = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("calls", records=calls, columns=CALL_COLUMNS)
        await conn.copy_records_to_table("tickets", records=rows.tickets, columns=TICKET_COLUMNS)
        await conn.execute("SELECT setval(pg_get_serial_sequence('tickets', 'id'), $1)", len(rows.tickets))
        await conn.copy_records_to_table("ticket_history", records=rows.history, columns=HISTORY_COLUMNS)
        await conn.copy_records_to_table("sla_timers", records=rows.timers, columns=TIMER_COLUMNS)
        await conn.copy_records_to_table("escalations", records=rows.escalations, columns=ESCALATION_COLUMNS)
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('escalations', 'id'), $1)", max(len(rows.escalations), 1)
        )
        # what autovacuum does after a bulk insert: statistics, and the visibility map an index-only scan reads
        await conn.execute("VACUUM (ANALYZE) calls, tickets, ticket_history, sla_timers, escalations")
    finally:
        await conn.close()
    rows.load_s = time.perf_counter() - t0
    return rows


CASES = {
    "json": "report, JSON (report.produce: what the API serves)",
    "html": "report, HTML (the same, charts and Jinja2 in the executor)",
    "no_sla": "baseline: its call and ticket figures alone, no SLA section",
    "sla_sql": "the SLA section alone, as the report reads it (sla.sla_aggregates)",
    "sla_rows": "baseline: the SLA section row by row (sla.sla_facts + sla_kpis, the previous form)",
}


async def without_sla(db: Database) -> None:
    """The report's figures but its SLA section, read as ``report.build`` reads them: the tenant's calendar, then
    the call and ticket aggregates side by side."""
    start, end = report.month_period(MONTH)
    calendar = await queries.tenant_calendar(db, TENANT)
    await asyncio.gather(
        aggregates.call_kpis(db, TENANT, start, end, calendar=calendar), aggregates.ticket_kpis(db, TENANT, start, end)
    )


async def sla_rows(db: Database) -> sla.SlaKpis:
    start, end = report.month_period(MONTH)
    return sla.sla_kpis(*await sla.sla_facts(db, TENANT, start, end))


def stats(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.3f} s, best {min(values):.3f} s, worst {max(values):.3f} s"
        f" (n={len(values)})"
    )


class ServerCpu:
    """CPU seconds spent by the benchmark database's PostgreSQL backends (``/proc``: the server runs on this
    machine; elsewhere there is nothing to read and only wall times are printed) and by this process, its
    executor threads included: what a case costs, less bound to what else the machine is busy with."""

    def __init__(self, admin: asyncpg.Connection, database: str) -> None:
        self.admin, self.database = admin, database

    async def sample(self) -> float | None:
        rows = await self.admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database)
        backends = [_process_cpu(row["pid"]) for row in rows]
        return None if None in backends else time.process_time() + sum(b or 0.0 for b in backends)


def _process_cpu(pid: int) -> float | None:
    """utime + stime of a process in seconds (None: not on this machine)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timing(db: Database, runs: int, cpu: ServerCpu) -> None:
    """Each case once per run, in an order rotated from run to run (the machine's noise falls on all of them)."""
    start, end = report.month_period(MONTH)
    cases: dict[str, Callable[[], Awaitable[object]]] = {
        "json": lambda: report.produce(db, TENANT, MONTH, "json"),
        "html": lambda: report.produce(db, TENANT, MONTH, "html"),
        "no_sla": lambda: without_sla(db),
        "sla_sql": lambda: sla.sla_aggregates(db, TENANT, start, end),
        "sla_rows": lambda: sla_rows(db),
    }
    await report.produce(db, TENANT, MONTH, "json")  # a warm-up, untimed: the pool's connections, the catalogs
    print(f"load average (1 min) before the runs: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    times: dict[str, list[float]] = {name: [] for name in cases}
    spent: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for run in range(runs):
        order = names[run % len(names) :] + names[: run % len(names)]
        for name in order:
            before = await cpu.sample()
            t0 = time.perf_counter()
            await cases[name]()
            times[name].append(time.perf_counter() - t0)
            after = await cpu.sample()
            if before is not None and after is not None:
                spent[name].append(after - before)
        print(f"run {run + 1}: " + ", ".join(f"{name} {times[name][-1]:.3f} s" for name in names))
    print(f"load average (1 min) after the runs: {os.getloadavg()[0]:.2f}")
    for name, what in CASES.items():
        used = f"; CPU (server + client) median {statistics.median(spent[name]):.2f} s" if spent[name] else ""
        print(f"{what}:\n    {stats(times[name])}{used}")
    median = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"the SLA section adds {median['json'] - median['no_sla']:+.3f} s to the report (JSON, medians:"
        f" {median['json'] / median['no_sla']:.2f}x its figures without it); read in SQL it takes"
        f" {median['sla_sql'] / median['sla_rows']:.2f}x the time of the row-by-row form"
    )
    t0 = time.perf_counter()
    built = await report.build(db, TENANT, MONTH)
    t1 = time.perf_counter()
    text = await report.render(built, "html")
    t2 = time.perf_counter()
    print(f"of which (once more, one after the other): figures {t1 - t0:.3f} s, HTML text {t2 - t1:.3f} s"
          f" ({len(text):,} characters)")  # fmt: skip
    c, s = built.calls, built.sla or {}
    print(
        f"month: {c.offered:,} offered, {c.outside_hours:,} outside business hours ({c.closed:,} closed,"
        f" {c.answered_outside_hours:,} answered), {c.transfers_in:,} transfers in,"
        f" {built.tickets.created:,} tickets, reachability {c.reachability:.4f};"
        f" business hours: {built.business_hours}"
    )
    if s:
        fired = sum(s["warnings"].values()) + sum(s["breaches"].values())
        print(
            f"SLA: {s['measured']:,} tickets measured, {fired:,} escalations ({s['warnings']} warnings,"
            f" {s['breaches']} breaches, {s['open']:,} not taken back), compliance {s['compliance']},"
            f" to the first escalation mean {s['escalation_time_s']['mean']:.0f} s,"
            f" p90 {s['escalation_time_s']['p90']:.0f} s; {built.tickets.escalated:,} tickets with an escalation"
            " in their history"
        )
    else:
        print(f"SLA: none ({built.sla_note})")


async def verify(db: Database) -> None:
    """The report's figures against kpi.py streamed over the same rows (the KPI API's path) and its SLA section
    against the row-by-row form; and the SLA section against the stored rows' counts."""
    start, end = report.month_period(MONTH)
    built = await report.build(db, TENANT, MONTH)
    t0 = time.perf_counter()
    streamed = await queries.call_kpis(db, TENANT, start, end)
    facts = await queries.ticket_facts(db, TENANT, start, end)
    direct = kpi.ticket_kpis(facts)
    by_rows = await sla_rows(db)
    elapsed = time.perf_counter() - t0
    async with db.engine.connect() as conn:
        stored = {
            table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in ("sla_timers", "escalations")
        }
    sla_figures = built.sla or {}
    fired = sum(sla_figures.get("warnings", {}).values()) + sum(sla_figures.get("breaches", {}).values())
    checks = {
        "calls": streamed == built.calls,
        "tickets": direct == built.tickets,
        "sla": by_rows.to_dict() == built.sla,
        "stored": (sla_figures.get("measured"), fired) == (stored["sla_timers"], stored["escalations"]),
    }
    print(f"verify: kpi.py streamed and the SLA row by row over the same rows in {elapsed:.1f} s; identical: {checks}")
    if not all(checks.values()):
        raise SystemExit(1)


async def bench(args: argparse.Namespace) -> None:
    name = args.reuse or f"uhd_bench_{uuid.uuid4().hex[:10]}"
    base = args.dsn.rsplit("/", 1)[0]
    url = base.replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    if not args.reuse:
        admin = await asyncpg.connect(args.dsn)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
    try:
        if not args.reuse:
            await migrate(url)
            # the tenant's SLA (and business calendar) before its tickets: the load writes what the service would
            # have written since, timers and escalations included; --around-the-clock: a stored 24/7 calendar
            config = {"always": True} if args.around_the_clock else CALENDAR
            db = Database(url)
            try:
                await import_sla(db, TENANT, {**SLA, "calendar": config}, now=AS_OF - timedelta(days=60))
            finally:
                await db.close()
            calendar = Calendar.from_config(config)
            t0 = time.perf_counter()
            rows = await load(url, f"{base}/{name}", args.calls, args.tickets, calendar, args.escalations)
            print(
                f"data: {args.calls:,} calls, {len(rows.tickets):,} tickets with {len(rows.history):,} history rows,"
                f" {len(rows.timers):,} SLA timers ({sum(t[2] is not None for t in rows.timers):,} with a due"
                f" instant), {len(rows.escalations):,} escalations, as of {AS_OF:%d.%m.%Y %H:%M}: made in"
                f" {time.perf_counter() - t0 - rows.load_s:.1f} s, COPY + VACUUM ANALYZE in {rows.load_s:.1f} s"
            )
        # the service's ten connections, all kept open: a connection opened and closed within a case would take its
        # backend's CPU time along (production opens the last five on demand: a few milliseconds more per report)
        db = Database(url, pg_pool_size=PG_POOL_SIZE + PG_MAX_OVERFLOW, pg_max_overflow=0)
        try:
            admin = await asyncpg.connect(args.dsn)
            try:
                await timing(db, args.runs, ServerCpu(admin, name))
            finally:
                await admin.close()
            if args.verify:
                await verify(db)
        finally:
            await db.close()
    finally:
        if args.keep or args.reuse:
            print(f"kept database {name} (--reuse {name})")
        else:
            admin = await asyncpg.connect(args.dsn)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=300_000)
    parser.add_argument("--escalations", type=int, default=ESCALATIONS, help="the month's SLA escalations")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database (drop it yourself)")
    parser.add_argument("--reuse", metavar="NAME", help="time a database kept by --keep (no load)")
    parser.add_argument("--verify", action="store_true", help="also compare with kpi.py streamed over the rows")
    parser.add_argument("--around-the-clock", action="store_true", help="no business calendar for the tenant")
    parser.add_argument("--dsn", default=os.environ.get("UHD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"))
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
