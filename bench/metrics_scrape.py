"""``/metrics`` end to end: Prometheus' scrapes of the running service, on PostgreSQL with 300,000 tickets and calls
flowing, against the database read a scrape used to make inline.

    python bench/metrics_scrape.py [--minutes 10] [--interval 15] [--tenants 50] [--queues 3] [--agents 8]
                                   [--tickets 300000] [--calls 300000] [--rate 7200] [--talk-mean 120]
                                   [--dsn postgresql://postgres@127.0.0.1/test] [--pbx-nice 10] [--keep | --reuse NAME]

Setup (skipped with ``--reuse``): a throwaway database (dropped at the end unless ``--keep``), migrated, then the
installation as an operator builds it: ``--tenants`` tenants (``TenantService.add``, what ``uhd-telephony tenant
add SLUG --name … --hotline NUMBER=QUEUE`` runs, with its audit entry), each with ``--queues`` hotline numbers
ringing a queue of its own; the category tree (``import_categories``, the default tree) for every tenant; an SLA
(``import_sla``) for two tenants in three: business hours (weekdays 07:00-17:00, NRW's holidays) or around the
clock. Then ``--tickets`` tickets of the last 365 days, bulk-loaded with COPY like ``bench/monthly_report.py``:
spread unevenly over the tenants, categories of their trees (10 % none), priorities 1-5 or none, statuses by age
(old ones mostly closed, the last days' open), their history (created, status changes, 30 % routed: 25 % beyond
1st level), SLA escalations with their history rows for 8 % of the SLA tenants' tickets, an SLA timer per ticket,
the ticket number counters; and ``--calls`` queue stays of the 35 days before the last two over every hotline
(``queries.recent_pairs``: the service starts every (tenant, queue) series it has calls of, as in an installation
that has been running; none of the last day, whose answered calls without a ticket the catch-up would open
tickets for). ``VACUUM (ANALYZE)`` as autovacuum would.

Run: the AMI simulator (niced by ``--pbx-nice``: Asterisk has a machine of its own in production) with the same
hotlines and queues, ``--agents`` agents per tenant in all its queues, ``--rate`` calls an hour (5 % transferred
to a shared ``backoffice`` queue); the service ``python -m uhd_telephony run`` on the database (role ``all``:
tracker, tickets of answered calls, SLA and 10-minute scans, kpi_daily, the metrics refresh). ``uhd-telephony
simulate`` itself offers one queue per tenant at most (``--queue-per-tenant``), so the simulator runs here from
``AmiSimulator`` with a configuration of ``--queues`` queues per tenant, as its tests do.

Measured:

- scrape: ``GET /metrics`` every ``--interval`` s for ``--minutes`` minutes (fixed rate, Prometheus' request
  headers, one kept-alive connection), from sending the request to the whole body read: p50/p95/p99/max, n, how
  many over 50 ms, body size and samples. The first scrape after the start (cold: every series formatted) is
  reported on its own. Target: p99 < 50 ms.
- baseline, in the same run: right after each scrape (never during one) this script reads what a scrape read
  inline before issue 17, with the functions the background refresh calls: ``MetricsService.refresh()``'s three
  reads of a fresh service — the SLA calendars, the ticket totals (``queries.ticket_totals``), the names — timed
  each; printed as the ticket totals' p50/p99/max and the whole refresh's.
- the service's own refresh: its ticket-totals statements as ``pg_stat_activity`` shows them (polled every 50 ms
  from a thread; the service does not log its refresh), and the scrapes that ran while one was under way.
- the service's event loop: a request to an unknown path every 0.25 s (404 from the middleware, no database), from
  that thread too: what any request waits for the loop, and when it waited over 50 ms.
- check: the first scrape's ticket series (created, routed, escalated per tenant and top-level category; the
  escalation histogram's counts per tenant) are exactly those the load wrote (tallied while generating them, so
  not the same query again) and those ``queries.ticket_totals`` reads; every later scrape's ticket total lies
  between the database's count ``LAG_S`` before it and the count right after it (the refresh's lag: tickets of
  answered calls keep coming); the calls show up (offered per tenant/queue, the AMI link up). Exit 1 if not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenpop_latency import free_port, wait_http

from uhd_telephony.audit.log import AuditAction, AuditLog
from uhd_telephony.metrics import kpi, queries
from uhd_telephony.metrics.live import TicketTotals
from uhd_telephony.metrics.service import TICKET_TTL_S, MetricsService
from uhd_telephony.simulator.config import HotlineConfig, MemberConfig, PbxConfig, QueueConfig, agent_members
from uhd_telephony.simulator.scenario import Scenario
from uhd_telephony.sla.policy import import_sla
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tenants.models import TenantHotline
from uhd_telephony.tenants.service import TenantService
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, categories, import_categories
from uhd_telephony.tickets.ids import format_number

TARGET_MS = 50.0
BENCH_APP = "uhd-bench-metrics-scrape"  # application_name of this script's connections: not the service's
LAG_S = TICKET_TTL_S + 15.0  # a scrape's ticket totals are at most this old (refresh period + read + slack)
WATCH_EVERY_S = 0.05
PROBE_EVERY_S = 0.25
QUEUE_KINDS = ("hotline", "kis", "technik", "labor", "pacs")  # a tenant's queues: <slug>-<kind>
# what Prometheus 2.x sends with a scrape (scrape.go: acceptHeader, the timeout header, gzip)
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
    "Accept-Encoding": "gzip",
    "User-Agent": "Prometheus/2.45.3",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
BUSINESS_HOURS = {"hours": {d: ["07:00-17:00"] for d in WEEKDAYS}, "holidays": {"state": "NW"}}
POLICIES = {
    1: {"response": "15m", "resolution": "4h", "calendar": "24/7"},
    2: {"response": "30m", "resolution": "8h"},
    3: {"response": "1h", "resolution": "16h"},
    4: {"response": "4h", "resolution": "3d"},
    5: {"response": "8h", "resolution": "5d"},
}
GROUPS = ("2nd_level", "2nd_level", "3rd_level", "partner:sap-hosting", "partner:dedalus")
SUBJECTS = ("Drucker druckt nicht", "KIS-Anmeldung gesperrt", "PACS-Bilder fehlen", "Telefon ohne Freizeichen",
            "Laborbefund nicht übertragen", "Passwort vergessen", "Monitor flackert", "Scanner im OP")  # fmt: skip
TICKET_COLUMNS = (
    "id", "number", "tenant", "status", "channel", "subject", "description", "requester_number", "requester_name",
    "vip", "category_id", "priority", "created_at", "updated_at", "support_group", "first_response_at",
    "resolved_at", "closed_at", "call_linkedid",
)  # fmt: skip
HISTORY_COLUMNS = ("ticket_id", "at", "actor", "action", "field", "old_value", "new_value", "note")
TIMER_COLUMNS = ("ticket_id", "tenant", "next_due_at", "computed_at")
ESCALATION_COLUMNS = (
    "ticket_id", "tenant", "kind", "target", "level", "due_at", "fired_at", "category_id", "priority",
    "notified", "acknowledged_by", "acknowledged_at", "de_escalated_by", "de_escalated_at", "reason",
)  # fmt: skip
CALL_COLUMNS = (
    "call_id", "linkedid", "uniqueid", "tenant", "queue", "channel", "caller_number", "caller_name", "dialled",
    "entered_at", "answered_at", "ended_at", "wait_s", "talk_s", "agent", "outcome", "callback_requested",
    "position", "ring_attempts", "variables", "resynced",
)  # fmt: skip
OUTCOMES = (("answered", 78), ("abandoned", 9), ("short_abandon", 4), ("timeout", 3), ("overflow", 1),
            ("refused", 1), ("callback", 1), ("closed", 3))  # fmt: skip
CALL_DAYS = 35  # the calls loaded: as recent as queries.RECENT_PAIRS_DAYS, whose pairs the service primes at start
# ... and none more recent than this: the catch-up (UHD_CATCHUP_WINDOW_S, a day) would open a ticket for each
# answered one of the last day, as their tickets are not loaded with them
CALLS_BEFORE_S = 2 * 86400
CHUNK = 50_000  # tickets (calls) generated and copied at a time


# ------------------------------------------------------------------------------------------------ the PBX
def slug(t: int) -> str:
    return f"klinikum-{t + 1:02d}"


def pbx_config(tenants: int, queues: int, agents: int) -> PbxConfig:
    """The simulated PBX: per tenant ``queues`` hotline numbers, each ringing a queue of its own, served by the
    tenant's ``agents`` phones (members of all its queues); a shared ``backoffice`` queue for transfers."""
    defaults = Scenario()
    config = PbxConfig(queues=[], hotlines=[])
    for t in range(tenants):
        team = agent_members(agents, first_ext=1000 + 10 * t if agents <= 10 else 10_000 + 100 * t)
        for q in range(queues):
            name = f"{slug(t)}-{QUEUE_KINDS[q % len(QUEUE_KINDS)]}{'' if q < len(QUEUE_KINDS) else q}"
            members = [MemberConfig(m.interface, m.name) for m in team]
            config.queues.append(QueueConfig(name, members, max_wait_s=120.0))
            config.hotlines.append(HotlineConfig(f"+49231{9_900_000 + 10 * t + q}", name, tenant=slug(t)))
    backoffice = [MemberConfig(f"PJSIP/{900 + i}", f"Backoffice {i + 1}") for i in range(6)]
    config.queues.append(QueueConfig("backoffice", backoffice, max_wait_s=120.0))
    for queue in config.queues:  # as Scenario.pbx_config() sets them
        for member in queue.members:
            member.behaviour.ring_s = defaults.ring_s
            member.behaviour.no_answer_share = defaults.ring_no_answer_share
    return config


# the simulator's process: ``python -c PBX bench_dir spec_json``
BENCH_DIR = str(Path(__file__).resolve().parent)
PBX = """
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from metrics_scrape import serve_pbx
asyncio.run(serve_pbx(json.loads(sys.argv[2])))
"""


async def serve_pbx(spec: dict[str, Any]) -> None:
    """The AMI simulator with ``pbx_config``'s PBX and generated calls, until SIGTERM or ``duration``; prints a
    JSON line of what it did when it stops."""
    from uhd_telephony.calls.service import install_stop
    from uhd_telephony.simulator.server import AmiSimulator

    config = pbx_config(spec["tenants"], spec["queues"], spec["agents"])
    scenario = Scenario(
        rate_per_hour=spec["rate"],
        talk_mean_s=spec["talk_mean"],
        patience_mean_s=spec["patience_mean"],
        max_wait_s=120.0,
        agi_lookup=False,
    )
    stop = asyncio.Event()
    install_stop(stop)
    async with AmiSimulator(
        config, port=spec["port"], seed=1, scenario=scenario, capture=False, truth_limit=10_000
    ) as sim:
        print(f"AMI simulator on port {sim.port}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), spec["duration"])
        placed = sim.generator.placed if sim.generator is not None else 0
        print(json.dumps({"placed": placed, "finished": sim.pbx.finished, "frames": sim.pbx.em.frames}), flush=True)


# ------------------------------------------------------------------------------------------------ the setup
def sla_config(t: int) -> dict[str, Any] | None:
    """Two tenants in three have an SLA: business hours or around the clock; the third none."""
    if t % 3 == 2:
        return None
    domain = f"{slug(t)}.example"
    return {
        "calendar": BUSINESS_HOURS if t % 3 == 0 else {"always": True},
        "unclassified_priority": 3,
        "warning_at": 0.75,
        "levels": {"warning": 1, "breach": 2},
        "policies": POLICIES,
        "contacts": [
            {"name": "Teamleitung Service Desk", "level": 1, "mail": [f"teamleitung@{domain}"]},
            {"name": "IT-Leitung", "level": 2, "mail": [f"it-leitung@{domain}"]},
        ],
    }


async def set_up(url: str, config: PbxConfig, tenants: int) -> dict[str, list[tuple[int, str]]]:
    """Tenants with their hotlines, category trees and SLAs, as an operator sets them up; (id, top-level code)
    of every category per tenant."""
    db = Database(url)
    try:
        service, audit = TenantService(db), AuditLog(db)
        for t in range(tenants):
            lines = [(h.number, h.queue) for h in config.hotlines if h.tenant == slug(t)]
            view = await service.add(slug(t), name=f"Klinikum {t + 1:02d}", hotlines=lines)
            await audit.write(
                AuditAction.TENANT_ADDED,
                actor="cli",
                target=f"tenant:{view.tenant}",
                details={"hotlines": [h.to_dict() for h in view.hotlines]},
            )
            await import_categories(db, slug(t), DEFAULT_CATEGORIES)
            sla = sla_config(t)
            if sla is not None:
                await import_sla(db, slug(t), sla)
        async with db.engine.connect() as conn:
            rows = await conn.execute(select(categories.c.tenant, categories.c.id, categories.c.path))
            trees: dict[str, list[tuple[int, str]]] = {}
            for row in rows:
                trees.setdefault(row.tenant, []).append((row.id, kpi.top_level(row.path)))
        return trees
    finally:
        await db.close()


@dataclass
class Tally:
    """What the load wrote, counted as ``/metrics`` counts it (kpi.py's definitions)."""

    created: Counter[tuple[str, str]] = field(default_factory=Counter)
    routed: Counter[tuple[str, str]] = field(default_factory=Counter)  # beyond 1st level
    escalated: Counter[tuple[str, str]] = field(default_factory=Counter)
    forwarded: Counter[str] = field(default_factory=Counter)  # the escalation-time histogram's count per tenant
    history: int = 0
    escalations: int = 0
    open: int = 0
    counters: dict[int, int] = field(default_factory=dict)  # year -> last ticket number


@dataclass
class Chunk:
    tickets: list[tuple[Any, ...]] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    timers: list[tuple[Any, ...]] = field(default_factory=list)
    escalations: list[tuple[Any, ...]] = field(default_factory=list)


STATUSES = {  # by age: (status, weight)
    "old": (("closed", 92), ("resolved", 5), ("in_progress", 2), ("waiting", 1)),
    "week": (("closed", 45), ("resolved", 25), ("in_progress", 15), ("waiting", 8), ("new", 7)),
    "fresh": (("new", 25), ("in_progress", 35), ("waiting", 10), ("resolved", 25), ("closed", 5)),
}


def created_instants(rng: random.Random, n: int, now: datetime) -> list[float]:
    """``n`` creation instants over the last 365 days, 80 % of them in Berlin's working hours, sorted."""
    start = now.timestamp() - 365 * 86400
    out: list[float] = []
    while len(out) < n:
        t = start + rng.random() * 365 * 86400
        if rng.random() < 0.8:  # moved into the working hours of its day
            local = datetime.fromtimestamp(t, kpi.TIMEZONE)
            if local.weekday() >= 5:
                continue
            t = local.replace(hour=7, minute=0, second=0).timestamp() + rng.random() * 10 * 3600
        if t < now.timestamp() - 600:
            out.append(t)
    return sorted(out)


def ticket_chunks(
    rng: random.Random, n: int, now: datetime, trees: dict[str, list[tuple[int, str]]], tally: Tally
) -> Iterator[Chunk]:
    """The tickets, their history, SLA timers and escalations, ``CHUNK`` tickets at a time, counted in ``tally``."""
    tenants = sorted(trees)
    weights = [1 / (i + 1) ** 0.6 for i in range(len(tenants))]  # a few big clinics, many small ones
    with_sla = {slug(t) for t in range(len(tenants)) if sla_config(t) is not None}
    end = now.timestamp()
    chunk = Chunk()
    for tid, created in enumerate(created_instants(rng, n, now), start=1):
        tenant = rng.choices(tenants, weights)[0]
        category: int | None = None
        top = kpi.UNCLASSIFIED
        if rng.random() < 0.9:
            category, top = rng.choice(trees[tenant])
        priority = rng.choice((1, 2, 3, 3, 3, 4, 4, 5, None))
        age = end - created
        kind = "old" if age > 14 * 86400 else "week" if age > 2 * 86400 else "fresh"
        status = rng.choices(*zip(*STATUSES[kind], strict=True))[0]
        year = datetime.fromtimestamp(created, kpi.TIMEZONE).year
        tally.counters[year] = tally.counters.get(year, 0) + 1
        number = format_number(year, tally.counters[year])
        # the ticket's life: first response, a wait on the caller, resolution, closing (all before now)
        responded = created + min(rng.expovariate(1 / 1800), age * rng.random()) if status != "new" else None
        resolved = closed = None
        if responded is not None and status in ("resolved", "closed"):
            resolved = responded + min(rng.expovariate(1 / 86400), (end - responded) * rng.random())
            if status == "closed":
                closed = resolved + min(rng.expovariate(1 / (2 * 86400)), (end - resolved) * rng.random())
        agent = f"agent:{rng.randrange(10, 60)}"
        history: list[tuple[float, str, str, str | None, str | None, str | None, str | None]] = [
            (created, "system", "created", "number", None, number, None)
        ]
        steps = [(responded, "in_progress")]
        if status == "waiting" and responded is not None:
            steps.append((responded + (end - responded) * rng.random(), "waiting"))
        steps += [(resolved, "resolved"), (closed, "closed")]
        previous = "new"
        for at, new in steps:
            if at is not None:
                history.append((at, agent, "status", "status", previous, new, None))
                previous = new
        group, last = "1st_level", resolved if resolved is not None else end
        r = rng.random()
        routed_at = None
        if r < 0.3:  # routed: 1 in 6 of them back to 1st level (not "beyond"), the others onwards
            to = "1st_level" if r < 0.05 else rng.choice(GROUPS)
            at = created + min(rng.expovariate(1 / 900), (last - created) * rng.random())
            history.append((at, "system", "routed", "support_group", "1st_level", to, None))
            group, routed_at = to, at if to != "1st_level" else None
        escalated = False
        if tenant in with_sla and rng.random() < 0.08:
            fired = created + min(rng.expovariate(1 / 2400), (last - created) * rng.random())
            for target, esc_kind, level in (("response", "warning", 1), ("response", "breach", 2)):
                if esc_kind == "breach" and rng.random() < 0.6:
                    break
                what = f"{target} {esc_kind}"
                note = f"escalation: {target} target, {esc_kind}; level {level} notified: Teamleitung Service Desk"
                history.append((fired, "system", "escalated", "sla", None, what, note))
                ack = fired + rng.expovariate(1 / 2400) if rng.random() < 0.6 else None
                if ack is not None and ack < last:
                    history.append((ack, "agent:3", "acknowledged", "sla", what, None, "wird bearbeitet"))
                else:
                    ack = None
                back = resolved
                if back is not None:
                    history.append((back, agent, "de-escalated", "sla", what, None, "ticket resolved"))
                chunk.escalations.append((
                    tid, tenant, esc_kind, target, level, utc(fired - rng.uniform(0, 15)), utc(fired), category,
                    priority, json.dumps([{"name": "Teamleitung Service Desk", "channels": ["mail"]}]),
                    "agent:3" if ack is not None else None, utc(ack), agent if back else None, utc(back),
                    "ticket resolved" if back else None,
                ))  # fmt: skip
                tally.escalations += 1
                escalated = True
                fired = min(fired + rng.expovariate(1 / 3600), last)
        history.sort(key=lambda h: h[0])
        updated = history[-1][0]
        chunk.history.extend((tid, utc(h[0]), *h[1:]) for h in history)
        tally.history += len(history)
        channel = rng.choice(("phone", "phone", "phone", "phone", "phone", "phone", "phone", "web", "web", "mail"))
        chunk.tickets.append((
            tid, number, tenant, status, channel, rng.choice(SUBJECTS), "",
            f"+49231{rng.randrange(1_000_000, 9_999_999)}", "Bench", rng.random() < 0.03, category, priority,
            utc(created), utc(updated), group, utc(responded), utc(resolved), utc(closed),
            f"load-{tid}" if channel == "phone" else None,
        ))  # fmt: skip
        running = status in ("new", "in_progress") and tenant in with_sla  # the SLA clock runs: a due instant
        due = utc(end + rng.uniform(2 * 3600, 3 * 86400)) if running else None
        chunk.timers.append((tid, tenant, due, utc(updated)))
        key = (tenant, top)
        tally.created[key] += 1
        tally.open += status not in ("resolved", "closed")
        if routed_at is not None:
            tally.routed[key] += 1
            tally.forwarded[tenant] += 1
        if escalated:
            tally.escalated[key] += 1
        if len(chunk.tickets) >= CHUNK:
            yield chunk
            chunk = Chunk()
    if chunk.tickets:
        yield chunk


def call_chunks(rng: random.Random, n: int, now: datetime, config: PbxConfig) -> Iterator[list[tuple[Any, ...]]]:
    """``n`` queue stays of ``CALL_DAYS`` days up to ``CALLS_BEFORE_S`` ago over every hotline (5 % of the answered
    ones transferred on into ``backoffice``), in working hours: the history whose (tenant, queue) pairs the
    service's series start from (``queries.recent_pairs``), as in an installation that has been running."""
    names, weights = zip(*OUTCOMES, strict=True)
    start, last = now.timestamp() - CALL_DAYS * 86400, now.timestamp() - CALLS_BEFORE_S
    rows: list[tuple[Any, ...]] = []
    i = 0
    while i < n:
        t = start + rng.random() * CALL_DAYS * 86400
        local = datetime.fromtimestamp(t, kpi.TIMEZONE)
        if local.weekday() >= 5 or not 7 <= local.hour < 17 or t > last:
            continue
        hotline = rng.choice(config.hotlines)
        linkedid = f"load.{i}"
        stays = [(hotline.queue, rng.choices(names, weights)[0], t)]
        if stays[0][1] == "answered" and rng.random() < 0.05:
            stays = [(hotline.queue, "transferred", t), ("backoffice", rng.choice(("answered", "abandoned")), t + 90)]
        for queue, outcome, at in stays:
            i += 1
            wait = round(rng.expovariate(1 / 20), 3) if outcome != "closed" else None
            talk = round(rng.expovariate(1 / 120), 3) if outcome in ("answered", "transferred") else None
            entered = utc(at)
            assert entered is not None
            answered = entered + timedelta(seconds=wait or 0) if talk is not None else None
            ended = entered + timedelta(seconds=(wait or 0) + (talk or 0) + 1)
            rows.append((
                f"load-c{i}", linkedid, f"load-u{i}", hotline.tenant, queue, "PJSIP/trunk-0000001a", "+4923112345",
                "", hotline.number, entered, answered, ended, wait, talk, "Anna Becker" if talk else None, outcome,
                outcome == "callback", 1, "[]", "{}", False,
            ))  # fmt: skip
            if len(rows) >= CHUNK:
                yield rows
                rows = []
    if rows:
        yield rows


def utc(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(round(t, 6), UTC)


async def load(
    dsn: str, n: int, calls: int, now: datetime, trees: dict[str, list[tuple[int, str]]], config: PbxConfig
) -> tuple[Tally, float]:
    """COPY the calls and tickets in; (what was written, seconds the load took)."""
    tally = Tally()
    t0 = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        for rows in call_chunks(random.Random(18), calls, now, config):
            await conn.copy_records_to_table("calls", records=rows, columns=CALL_COLUMNS)
        for chunk in ticket_chunks(random.Random(17), n, now, trees, tally):
            await conn.copy_records_to_table("tickets", records=chunk.tickets, columns=TICKET_COLUMNS)
            await conn.copy_records_to_table("ticket_history", records=chunk.history, columns=HISTORY_COLUMNS)
            await conn.copy_records_to_table("sla_timers", records=chunk.timers, columns=TIMER_COLUMNS)
            await conn.copy_records_to_table("escalations", records=chunk.escalations, columns=ESCALATION_COLUMNS)
        await conn.execute("SELECT setval(pg_get_serial_sequence('tickets', 'id'), $1)", n)
        await conn.executemany(
            "INSERT INTO ticket_counters (scope, value) VALUES ($1, $2)",
            [(str(year), value) for year, value in sorted(tally.counters.items())],
        )
        # what autovacuum does after a bulk insert: statistics, and the visibility map an index-only scan reads
        await conn.execute("VACUUM (ANALYZE) calls, tickets, ticket_history, sla_timers, escalations")
    finally:
        await conn.close()
    return tally, time.perf_counter() - t0


# ------------------------------------------------------------------------------------------------ measuring
@dataclass
class Scrape:
    """One scrape: when, how long, what it showed."""

    started: float  # time.time()
    seconds: float
    size: int
    samples: int
    created: dict[tuple[str, str], int]
    routed: dict[tuple[str, str], int]
    escalated: dict[tuple[str, str], int]
    forwarded: dict[str, int]
    offered: dict[tuple[str, str], int]
    ami_connected: bool
    tracking: bool  # uhd_tracker_active 1: the process holds the tracker lease (else /metrics shows only that)
    ran: float = 0.0  # seconds the service's main thread ran during the scrape
    waited: float = 0.0  # ... and waited, runnable, for a CPU (others' work on a shared machine)

    @property
    def ended(self) -> float:
        return self.started + self.seconds


async def scrape(session: aiohttp.ClientSession, url: str, pid: int) -> Scrape:
    """GET /metrics as Prometheus does; timed from the request to the whole body, then parsed (not timed). Also
    how long the service's main thread (its event loop) ran and waited for a CPU meanwhile."""
    before = schedstat(pid)
    started = time.time()
    t0 = time.perf_counter()
    async with session.get(url, headers=PROMETHEUS_HEADERS) as response:
        body = await response.read()
    seconds = time.perf_counter() - t0
    after = schedstat(pid)
    if response.status != 200:
        raise RuntimeError(f"/metrics answered {response.status}: {body[:200]!r}")
    facts = Scrape(started, seconds, len(body), 0, {}, {}, {}, {}, {}, False, False)
    facts.ran, facts.waited = after[0] - before[0], after[1] - before[1]
    tickets = {"uhd_tickets_created": facts.created, "uhd_tickets_routed": facts.routed}
    tickets["uhd_tickets_escalated"] = facts.escalated
    for family in text_string_to_metric_families(body.decode()):  # also: the text is valid exposition
        for s in family.samples:
            facts.samples += 1
            if s.name in tickets:
                tickets[s.name][(s.labels["tenant"], s.labels["category"])] = int(s.value)
            elif s.name == "uhd_ticket_escalation_seconds_count":
                facts.forwarded[s.labels["tenant"]] = int(s.value)
            elif s.name == "uhd_calls_offered_total":
                facts.offered[(s.labels["tenant"], s.labels["queue"])] = int(s.value)
            elif s.name == "uhd_ami_connected":
                facts.ami_connected = s.value == 1
            elif s.name == "uhd_tracker_active":
                facts.tracking = s.value == 1
    return facts


@dataclass
class Reads:
    """The database reads of ``MetricsService.refresh()`` made inline, timed (seconds), and the totals read."""

    calendars: float
    tickets: float
    names: float
    totals: TicketTotals

    @property
    def total(self) -> float:
        return self.calendars + self.tickets + self.names


async def inline_reads(db: Database) -> Reads:
    """What a scrape read inline before issue 17: a fresh ``MetricsService``'s refresh, each read timed."""
    service = MetricsService(db=db)
    assert service.tickets is not None and service.names is not None
    t0 = time.perf_counter()
    await service.refresh_calendars()
    t1 = time.perf_counter()
    totals = await service.tickets.get()
    t2 = time.perf_counter()
    await service.names.get()
    t3 = time.perf_counter()
    if totals is None:
        raise RuntimeError("the ticket totals were not read (see the log)")
    return Reads(t1 - t0, t2 - t1, t3 - t2, totals)


class Watch:
    """The service seen from outside, from a thread of its own (not on the scraping loop).

    Its ticket-totals reads as PostgreSQL shows them: ``pg_stat_activity`` polled every ``WATCH_EVERY_S``. A read
    runs from its per-category count to the end of its forwarding aggregate (``us_sum``) on one backend (not its
    parallel workers); a statement's end is exact when a poll caught it finished, else the last poll that saw it
    running. (asyncpg prepares, then executes: one statement may show two starts.)

    Its event loop: a GET of an unknown path every ``PROBE_EVERY_S`` (the middleware answers 404, no database
    read), timed like a scrape: what any request waits while the loop is busy elsewhere."""

    QUERY = """
        SELECT pid, extract(epoch FROM query_start)::float8 AS started, state,
               extract(epoch FROM state_change)::float8 AS changed, query LIKE '%us_sum%' AS forwarding
        FROM pg_stat_activity
        WHERE datname = $1 AND application_name <> $2 AND backend_type = 'client backend' AND pid <> pg_backend_pid()
          AND (query LIKE '%us_sum%' OR query LIKE '%count(*) AS n%FROM tickets GROUP BY tickets.tenant%')
    """

    def __init__(self, dsn: str, database: str) -> None:
        self.dsn, self.database = dsn, database
        self.base = ""  # the service's URL: set before start()
        self.probes: list[tuple[float, float]] = []  # (time.time() sent, seconds to the answer)
        # (pid, start) -> (forwarding aggregate?, end, end exact)
        self.seen: dict[tuple[int, float], tuple[bool, float, bool]] = {}
        self.polls = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(10)

    async def _run(self) -> None:
        await asyncio.gather(self._poll(), self._probe())

    async def _probe(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            while not self._stop.is_set():
                sent, t0 = time.time(), time.perf_counter()
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(self.base + "/bench-loop-probe") as response:
                        await response.read()
                    self.probes.append((sent, time.perf_counter() - t0))
                await asyncio.sleep(PROBE_EVERY_S)

    async def _poll(self) -> None:
        try:
            conn = await asyncpg.connect(self.dsn, server_settings={"application_name": BENCH_APP})
        except Exception as exc:
            self.error = repr(exc)
            return
        try:
            while not self._stop.is_set():
                now = time.time()
                for row in await conn.fetch(self.QUERY, self.database, BENCH_APP):
                    if row["started"] is None:
                        continue
                    finished = row["state"] != "active"
                    key = (row["pid"], row["started"])
                    if key not in self.seen or not self.seen[key][2]:
                        self.seen[key] = (row["forwarding"], row["changed"] if finished else now, finished)
                self.polls += 1
                await asyncio.sleep(WATCH_EVERY_S)
        except Exception as exc:  # the numbers so far stay; say why they stop
            self.error = repr(exc)
        finally:
            await conn.close()

    def reads(self) -> list[tuple[float, float, bool]]:
        """(start, end, end exact) of each read of the ticket totals the service made."""
        out: list[tuple[float, float, bool]] = []
        by_pid: dict[int, list[tuple[float, bool, float, bool]]] = {}
        for (pid, started), (forwarding, ended, exact) in self.seen.items():
            by_pid.setdefault(pid, []).append((started, forwarding, ended, exact))
        for statements in by_pid.values():
            read: list[tuple[float, bool, float, bool]] = []
            for st in sorted(statements):
                # a count after the read's aggregate, or a pause of seconds: the next read
                if read and ((not st[1] and any(r[1] for r in read)) or st[0] - max(r[2] for r in read) > 2.0):
                    out.extend(self._read(read))
                    read = []
                read.append(st)
            out.extend(self._read(read))
        return sorted(out)

    @staticmethod
    def _read(statements: list[tuple[float, bool, float, bool]]) -> list[tuple[float, float, bool]]:
        aggregates = [s for s in statements if s[1]]
        if not aggregates:
            return []  # the count alone: a read that failed, or the watch stopped during it
        last = max(aggregates, key=lambda s: s[2])
        return [(statements[0][0], last[2], last[3])]


def schedstat(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) of a process's main thread so far."""
    try:
        on_cpu, waiting, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(on_cpu) / 1e9, int(waiting) / 1e9


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)), 1) - 1]


def line(values_s: list[float]) -> str:
    ms = [v * 1000 for v in values_s]
    if not ms:
        return "n=0"
    over = sum(v > TARGET_MS for v in ms)
    return (
        f"p50 {statistics.median(ms):.1f} ms, p95 {pct(ms, 95):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
        f"max {max(ms):.1f} ms (n={len(ms)}; over {TARGET_MS:.0f} ms: {over})"
    )


def nonzero(d: dict[Any, int]) -> dict[Any, int]:
    return {k: v for k, v in d.items() if v}


def differences(shown: Scrape, expected: TicketTotals) -> list[str]:
    """How ``shown``'s ticket series differ from ``expected`` (empty: identical)."""
    out = []
    forwarded = {tenant: counts[-1] for tenant, (counts, _) in expected.escalation.items()}
    for name, got, want in (
        ("created", shown.created, expected.created),
        ("routed", nonzero(shown.routed), nonzero(dict(expected.routed))),
        ("escalated", nonzero(shown.escalated), nonzero(dict(expected.escalated))),
        ("escalation count", nonzero(shown.forwarded), nonzero(forwarded)),
    ):
        if got != want:
            keys = sorted(set(got) ^ set(want)) or sorted(k for k in got if got[k] != want.get(k))
            out.append(f"{name}: {len(keys)} series differ, e.g. {keys[:3]} (shown {sum(got.values()):,}, "
                       f"expected {sum(want.values()):,})")  # fmt: skip
    return out


def tally_totals(tally: Tally) -> TicketTotals:
    """The load's tally in the shape of ``queries.ticket_totals`` (the histogram's counts: only the +Inf one)."""
    return TicketTotals(
        created=dict(tally.created),
        routed=dict(tally.routed),
        escalated=dict(tally.escalated),
        escalation={tenant: ([n], 0.0) for tenant, n in tally.forwarded.items()},
    )


# ------------------------------------------------------------------------------------------------ the run
@dataclass
class Run:
    scrapes: list[Scrape] = field(default_factory=list)
    reads: list[Reads] = field(default_factory=list)
    read_at: list[float] = field(default_factory=list)  # time.time() after each read
    first: Scrape | None = None
    began: float = 0.0  # time.time() the service answered /healthz
    at_start: TicketTotals | None = None
    service_cpu_s: float = 0.0
    pbx_cpu_s: float = 0.0
    seconds: float = 0.0
    pbx: dict[str, Any] = field(default_factory=dict)
    service_log: str = ""
    calls_stored: int = 0
    tickets_made: int = 0


async def measure(args: argparse.Namespace, url: str, watch: Watch) -> Run:
    run = Run()
    engine = create_async_engine(url, connect_args={"server_settings": {"application_name": BENCH_APP}})
    db = Database(url, engine=engine)
    ami_port, http_port = free_port(), free_port()
    n = max(1, round(args.minutes * 60 / args.interval))
    spec = {
        "tenants": args.tenants, "queues": args.queues, "agents": args.agents, "rate": args.rate,
        "talk_mean": args.talk_mean, "patience_mean": 90.0, "port": ami_port,
        "duration": args.minutes * 60 + 600,  # ended by this script; a leftover stops by itself
    }  # fmt: skip
    log = tempfile.TemporaryFile()
    service: asyncio.subprocess.Process | None = None
    pbx: asyncio.subprocess.Process | None = None
    try:
        run.at_start = await queries.ticket_totals(db)  # the totals the service's prime() reads
        async with db.engine.connect() as conn:
            tickets_before = int((await conn.execute(select(func.count()).select_from(queries.tickets))).scalar_one())
            calls_before = int((await conn.execute(select(func.count()).select_from(queries.calls))).scalar_one())
        pbx = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PBX, BENCH_DIR, json.dumps(spec),
            stdout=asyncio.subprocess.PIPE, preexec_fn=lambda: os.nice(args.pbx_nice),
        )  # fmt: skip
        assert pbx.stdout is not None
        await asyncio.wait_for(pbx.stdout.readline(), 60)  # listening
        env = {
            **os.environ,
            "UHD_DATABASE_URL": url,
            "UHD_AMI_PORT": str(ami_port),
            "UHD_HTTP_PORT": str(http_port),
            "UHD_LOG_LEVEL": "WARNING",
            "UHD_SESSION_KEY": Fernet.generate_key().decode(),  # as production sets it (else a warning at start)
        }
        service = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "uhd_telephony", "run", env=env, stdout=log, stderr=log
        )
        base = f"http://127.0.0.1:{http_port}"
        await wait_http(base + "/healthz", within=120)
        cpu0 = (cpu_seconds(service.pid), cpu_seconds(pbx.pid))
        watch.base = base
        watch.start()
        run.began = time.time()
        began = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            run.first = await scrape(session, base + "/metrics", service.pid)
            while not run.first.tracking:  # /healthz answers before the process holds the tracker lease
                await asyncio.sleep(0.2)
                run.first = await scrape(session, base + "/metrics", service.pid)
            print(f"first scrape: {run.first.seconds * 1000:.1f} ms, {run.first.samples:,} samples", file=sys.stderr)
            t0 = time.monotonic() + args.interval
            for k in range(n):
                await asyncio.sleep(max(0.0, t0 + k * args.interval - time.monotonic()))
                run.scrapes.append(await scrape(session, base + "/metrics", service.pid))
                run.reads.append(await inline_reads(db))  # after the scrape, never during it
                run.read_at.append(time.time())
                if (k + 1) % 8 == 0 or k + 1 == n:
                    print(
                        f"  {k + 1}/{n} scrapes, last {run.scrapes[-1].seconds * 1000:.1f} ms;"
                        f" ticket totals read inline {run.reads[-1].tickets * 1000:.0f} ms",
                        file=sys.stderr,
                    )
        run.seconds = time.monotonic() - began
        run.service_cpu_s = cpu_seconds(service.pid) - cpu0[0]
        run.pbx_cpu_s = cpu_seconds(pbx.pid) - cpu0[1]
        async with db.engine.connect() as conn:
            tickets_after = int((await conn.execute(select(func.count()).select_from(queries.tickets))).scalar_one())
            calls_after = int((await conn.execute(select(func.count()).select_from(queries.calls))).scalar_one())
        run.tickets_made, run.calls_stored = tickets_after - tickets_before, calls_after - calls_before
    finally:
        watch.stop()
        for proc in (service, pbx):
            if proc is not None and proc.returncode is None:
                proc.terminate()
        for proc in (service, pbx):
            if proc is not None:
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        if pbx is not None and pbx.stdout is not None:
            for raw in (await pbx.stdout.read()).decode().splitlines():
                with contextlib.suppress(ValueError):
                    run.pbx = json.loads(raw)
        log.seek(0)
        run.service_log = log.read().decode(errors="replace")
        log.close()
        await db.close()
    return run


def report(args: argparse.Namespace, run: Run, watch: Watch, tally: Tally | None) -> bool:
    """Print the figures and the check; whether the check passed."""
    ok = True
    s = run.scrapes
    last = s[-1]
    pairs = {p for p, v in last.offered.items() if v}  # with calls since the start
    print(
        f"during {run.seconds / 60:.1f} min: the simulator placed {run.pbx.get('placed', '?')} calls "
        f"(~{args.rate:,.0f}/h, {run.pbx.get('frames', '?')} AMI events), the service stored {run.calls_stored:,} "
        f"queue stays and opened {run.tickets_made:,} tickets; /metrics has {len(last.offered)} tenant/queue pairs, "
        f"{len(pairs)} of them with calls since the start; CPU: service {100 * run.service_cpu_s / run.seconds:.0f} "
        f"%, simulator (nice {args.pbx_nice}) {100 * run.pbx_cpu_s / run.seconds:.0f} % of a core; load average now "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    sizes = sorted({x.size for x in s})
    print(
        f"scrape, GET /metrics every {args.interval:g} s ({sizes[0] / 1024:.0f}-{sizes[-1] / 1024:.0f} KiB, "
        f"{min(x.samples for x in s):,}-{max(x.samples for x in s):,} samples): {line([x.seconds for x in s])}"
    )
    if run.first is not None:
        print(
            f"  the first scrape after the start (cold, not in n; +{run.first.started - run.began:.1f} s): "
            f"{run.first.seconds * 1000:.1f} ms"
        )
    print(f"baseline, the ticket totals read inline (queries.ticket_totals): {line([r.tickets for r in run.reads])}")
    print(f"  the whole refresh inline (calendars + totals + names):     {line([r.total for r in run.reads])}")
    reads = watch.reads()
    if reads:
        durations = [e - b for b, e, _ in reads]
        exact = sum(x for _, _, x in reads)
        overlapping = [x for x in s if any(b <= x.ended and x.started <= e for b, e, _ in reads)]
        print(
            f"the service's own ticket-totals reads (pg_stat_activity, {watch.polls:,} polls, {exact} of "
            f"{len(reads)} ends exact, the others within {WATCH_EVERY_S * 1000:.0f} ms): "
            f"p50 {statistics.median(durations) * 1000:.0f} ms, max {max(durations) * 1000:.0f} ms "
            f"(n={len(reads)}); scrapes during one: {len(overlapping)}"
            + (f", {line([x.seconds for x in overlapping])}" if overlapping else "")
        )
    else:
        print(f"the service's own ticket-totals reads: none seen ({watch.polls} polls; {watch.error or 'no error'})")
    stalls = [(at, d) for at, d in watch.probes if d * 1000 > TARGET_MS]
    slow = ", ".join(
        f"+{at - run.began:.0f} s {d * 1000:.0f} ms"
        + (" (refresh read)" if any(b <= at + d and at <= e for b, e, _ in reads) else "")
        for at, d in stalls[:10]
    )
    print(
        f"event-loop probe, GET of an unknown path (404, no database) every {PROBE_EVERY_S:g} s: "
        f"{line([d for _, d in watch.probes])}" + (f"; the slow ones at {slow}" if stalls else "")
    )
    print(
        f"the service's main thread during a scrape: on a CPU p50 {statistics.median(x.ran for x in s) * 1000:.1f} "
        f"ms, waiting for one p50 {statistics.median(x.waited for x in s) * 1000:.1f} ms, max "
        f"{max(x.waited for x in s) * 1000:.1f} ms (/proc/PID/schedstat)"
    )
    for x in (x for x in s if x.seconds * 1000 > TARGET_MS):
        during = any(b <= x.ended and x.started <= e for b, e, _ in reads)
        stalled = [d for at, d in stalls if x.started - 1 <= at <= x.ended + 1]
        print(
            f"  slow scrape at +{x.started - run.began:.0f} s: {x.seconds * 1000:.0f} ms; the service's loop ran "
            f"{x.ran * 1000:.0f} ms and waited {x.waited * 1000:.0f} ms for a CPU"
            + (", during a refresh read" if during else "")
            + (f", the probe waited {max(stalled) * 1000:.0f} ms then" if stalled else "")
        )
    # -- the check
    first = run.first
    assert first is not None and run.at_start is not None
    problems = differences(first, run.at_start)
    if tally is not None:
        problems += [f"vs the load's tally: {p}" for p in differences(first, tally_totals(tally))]
    loaded = sum(first.created.values())
    print(
        f"check, the first scrape: {loaded:,} tickets in {len(first.created)} tenant/category series, "
        f"{sum(first.routed.values()):,} routed beyond 1st level, {sum(first.escalated.values()):,} escalated: "
        + ("identical to " + ("the load's tally and " if tally is not None else "") + "queries.ticket_totals"
           if not problems else "DIFFERENT: " + "; ".join(problems))
    )  # fmt: skip
    ok &= not problems
    in_lag = 0
    late: list[str] = []
    for k, x in enumerate(s):
        shown = sum(x.created.values())
        after = sum(run.reads[k].totals.created.values())  # read right after this scrape
        earlier = [sum(r.totals.created.values()) for r, at in zip(run.reads, run.read_at, strict=True)
                   if at <= x.started - LAG_S]  # fmt: skip
        floor = max(earlier) if earlier else loaded
        if floor <= shown <= after:
            in_lag += 1
        else:
            late.append(f"#{k + 1}: {shown:,} not in [{floor:,}, {after:,}]")
    grew = sum(sum(x.created.values()) > loaded for x in s)
    print(
        f"check, every scrape: ticket total within the database's counts of {LAG_S:.0f} s before and right after "
        f"it: {in_lag}/{len(s)}" + (f" ({'; '.join(late[:3])})" if late else "") + f"; {grew} showed tickets of "
        f"the run's calls (up to {sum(last.created.values()) - loaded:,}); calls offered in the last: "
        f"{sum(last.offered.values()):,}; AMI connected: {last.ami_connected}"
    )
    ok &= in_lag == len(s) and bool(pairs) and last.ami_connected
    worst = pct([x.seconds * 1000 for x in s], 99)
    print(f"target scrape p99 < {TARGET_MS:.0f} ms: {'met' if worst < TARGET_MS else 'MISSED'} ({worst:.1f} ms)")
    problems_logged = [ln for ln in run.service_log.splitlines() if "WARNING" in ln or "ERROR" in ln]
    if problems_logged:
        print(f"the service logged {len(problems_logged)} warnings/errors, e.g.:")
        for ln in problems_logged[:5]:
            print(f"  {ln[:300]}")
    return ok


async def bench(args: argparse.Namespace) -> int:
    name = args.reuse or f"uhd_bench_scrape_{uuid.uuid4().hex[:10]}"
    base = args.dsn.rsplit("/", 1)[0]
    url = base.replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    dsn = f"{base}/{name}"
    config = pbx_config(args.tenants, args.queues, args.agents)
    print(
        f"{args.tenants} tenants x {args.queues} queues ({len(config.hotlines)} hotlines), {args.agents} agents per "
        f"tenant; {os.cpu_count()} cores shared with other work, load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; database {name}",
        flush=True,
    )
    if not args.reuse:
        admin = await asyncpg.connect(args.dsn)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
    tally: Tally | None = None
    try:
        if not args.reuse:
            t0 = time.perf_counter()
            await migrate(url)
            trees = await set_up(url, config, args.tenants)
            made = time.perf_counter() - t0
            tally, load_s = await load(dsn, args.tickets, args.calls, datetime.now(UTC), trees, config)
            slas = [sla_config(t) for t in range(args.tenants)]
            print(
                f"data: migrated, tenants, hotlines, category trees, SLAs ({sum(c is not None for c in slas)}: "
                f"{sum(c is not None and 'hours' in c['calendar'] for c in slas)} with business hours) in "
                f"{made:.0f} s; {args.tickets:,} tickets ({tally.open:,} open) with {tally.history:,} history rows "
                f"and {tally.escalations:,} escalations, {args.calls:,} queue stays of the last {CALL_DAYS} days: "
                f"generated + COPY + VACUUM ANALYZE in {load_s:.0f} s",
                flush=True,
            )
        else:
            db = Database(url)
            try:
                async with db.engine.connect() as conn:
                    lines = int((await conn.execute(select(func.count()).select_from(TenantHotline))).scalar_one())
            finally:
                await db.close()
            if lines != len(config.hotlines):
                print(f"{name} has {lines} hotlines, not {len(config.hotlines)}: other --tenants/--queues?")
                return 2
        watch = Watch(args.dsn, name)
        run = await measure(args, url, watch)
        return 0 if report(args, run, watch, tally) else 1
    finally:
        if args.keep or args.reuse:
            print(f"kept database {name} (--reuse {name})")
        else:
            admin = await asyncpg.connect(args.dsn)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to scrape (default 10)")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between scrapes (default 15)")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--queues", type=int, default=3, help="queues (hotline numbers) per tenant")
    parser.add_argument("--agents", type=int, default=8, help="agents per tenant, in all its queues")
    parser.add_argument("--tickets", type=int, default=300_000)
    parser.add_argument("--calls", type=int, default=300_000, help=f"queue stays of the last {CALL_DAYS} days")
    parser.add_argument("--rate", type=float, default=7200.0, help="calls per hour over all hotlines")
    parser.add_argument("--talk-mean", type=float, default=120.0, help="mean talk time in seconds")
    parser.add_argument("--pbx-nice", type=int, default=10, help="the simulator's nice value (0: the service's)")
    parser.add_argument("--keep", action="store_true", help="keep the database (drop it yourself)")
    parser.add_argument("--reuse", metavar="NAME", help="run on a database kept by --keep (no setup, no load)")
    parser.add_argument("--dsn", default=os.environ.get("UHD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    if args.tenants * args.agents > 10_000 or args.agents > 99:
        parser.error("at most 99 agents per tenant and 10,000 in all")
    sys.exit(asyncio.run(bench(args)))


if __name__ == "__main__":
    main()
