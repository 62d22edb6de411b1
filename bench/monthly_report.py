"""The monthly report of one tenant over a big month in PostgreSQL: how long JSON and HTML take.

    python bench/monthly_report.py [--calls 1000000] [--tickets 300000] [--dsn postgresql://postgres@127.0.0.1/test]
                                   [--runs 3] [--verify] [--around-the-clock] [--keep | --reuse NAME]

Creates a throwaway database (dropped afterwards), migrates it, imports the tenant's SLA calendar (weekdays
06:30-17:00, North Rhine-Westphalia's holidays, one extra closed day; ``--around-the-clock``: none, so every stay
is in business hours) and bulk-loads with COPY (asyncpg ``copy_records_to_table``) ``--calls`` queue stays of one
tenant in November 2026 — 90 % of them in business hours, the rest at any time and then mostly closed by the
dialplan; every outcome, 5 % blind transfers (the same linkedid in a second queue), calls at the month's edges —
plus 2 % of them in October and December and another tenant, and ``--tickets`` tickets with their ``created``,
``routed`` and ``escalated`` history rows. ``ANALYZE`` after the load, as autovacuum would.

Prints the insert time, then per run the time of the report as the API produces it (``report.produce``: the
figures, then the text) for JSON and HTML (charts and Jinja2 in the executor). ``--verify`` also streams the month
through ``kpi.CallTally`` (``queries.call_kpis``, the KPI API's path) and ``kpi.ticket_kpis`` and checks the
figures are the same, and prints how long that path takes. Target: the report under 2 s at 1,000,000 calls and
300,000 tickets. ``--keep`` leaves the loaded database behind, ``--reuse NAME`` times it again without loading.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from uhd_telephony.metrics import kpi, queries, report
from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.sla.policy import import_sla
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, categories, import_categories

TENANT, OTHER = "klinikum-nord", "klinikum-sued"
MONTH = "2026-11"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
CALENDAR = {"hours": {d: ["06:30-17:00"] for d in WEEKDAYS}, "holidays": {"state": "NW"}, "closed": ["2026-11-11"]}
SLA = {"calendar": CALENDAR, "policies": {3: {"response": "1h", "resolution": "8h"}}}
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
    "vip", "category_id", "priority", "created_at", "updated_at", "support_group",
)  # fmt: skip
HISTORY_COLUMNS = ("ticket_id", "at", "actor", "action", "field", "new_value")


def call_rows(n: int, rng: random.Random, calendar: Calendar | None) -> list[tuple]:
    start, end = report.month_period(MONTH)
    span = (end - start).total_seconds()
    names = [o for o, _ in OUTCOMES if o != "closed"]
    weights = [w for o, w in OUTCOMES if o != "closed"]
    closed_share = dict(OUTCOMES)["closed"] / 100
    spans = kpi.business_spans(calendar, start, end) or [(start, end)]
    lengths = [(e - s).total_seconds() for s, e in spans]
    rows: list[tuple] = []
    i = 0

    def add(tenant: str, at: datetime, outcome: str, linkedid: str, queue: str = "hotline") -> None:
        nonlocal i
        i += 1
        wait = round(rng.expovariate(1 / 18), 3) if outcome != "closed" else None
        answered = outcome in ("answered", "transferred")
        talk = round(rng.expovariate(1 / 240), 3) if answered else None
        entered = at.astimezone(UTC)
        ended = entered + timedelta(seconds=(wait or 0) + (talk or 0) + 1)
        rows.append(
            (
                f"c{i}", linkedid, f"u{i}", tenant, queue, "PJSIP/trunk-1", "+4923198600", "", "100",
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
        linkedid = f"l{len(rows)}"
        if rng.random() < 0.05:  # a blind transfer: answered in the hotline, on into the 2nd-level queue
            add(tenant, at, "transferred", linkedid)
            add(tenant, at + timedelta(seconds=90), rng.choice(("answered", "answered", "abandoned")), linkedid, "l2")
        elif rng.random() < (0.7 if not business else closed_share if calendar is None else 0.0):
            add(tenant, at, "closed", linkedid)  # the dialplan's HotlineClosed (now and then queued all the same)
        else:
            add(tenant, at, rng.choices(names, weights)[0], linkedid)
    return rows[:n]


async def ticket_rows(url: str, n: int, rng: random.Random) -> tuple[list[tuple], list[tuple]]:
    db = Database(url)
    try:
        await import_categories(db, TENANT, DEFAULT_CATEGORIES)
        async with db.engine.connect() as conn:
            from sqlalchemy import select

            ids = [r.id for r in await conn.execute(select(categories.c.id).where(categories.c.tenant == TENANT))]
    finally:
        await db.close()
    start, end = report.month_period(MONTH)
    span = (end - start).total_seconds()
    tickets: list[tuple] = []
    history: list[tuple] = []
    for tid in range(1, n + 1):
        created = (start + timedelta(seconds=rng.random() * span)).astimezone(UTC)
        category = rng.choice(ids) if rng.random() < 0.9 else None
        status = rng.choice(("new", "in_progress", "waiting", "resolved", "closed", "closed"))
        tickets.append(
            (
                tid, f"UHD-2026-{tid:07d}", TENANT, status, rng.choice(("phone", "phone", "web", "mail")), "Bench",
                "", "+4923198600", "Bench", False, category, rng.choice((1, 2, 3, 3, 4, 5, None)), created, created,
                "1st_level",
            )
        )  # fmt: skip
        history.append((tid, created, "system", "created", None, None))
        r = rng.random()
        if r < 0.25:
            history.append((tid, created + timedelta(seconds=rng.expovariate(1 / 900)), "system", "routed",
                            "support_group", rng.choice(("2nd_level", "3rd_level", "partner:pacs"))))  # fmt: skip
        elif r < 0.30:
            history.append((tid, created + timedelta(seconds=60), "system", "routed", "support_group", "1st_level"))
        if rng.random() < 0.05:
            history.append((tid, created + timedelta(seconds=rng.expovariate(1 / 7200)), "system", "escalated",
                            None, None))  # fmt: skip
    return tickets, history


async def load(url: str, dsn: str, n_calls: int, n_tickets: int, calendar: Calendar | None) -> float:
    rng = random.Random(6)
    calls = call_rows(n_calls, rng, calendar)
    tickets, history = await ticket_rows(url, n_tickets, rng)
    t0 = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("calls", records=calls, columns=CALL_COLUMNS)
        await conn.copy_records_to_table("tickets", records=tickets, columns=TICKET_COLUMNS)
        await conn.execute("SELECT setval(pg_get_serial_sequence('tickets', 'id'), $1)", len(tickets))
        await conn.copy_records_to_table("ticket_history", records=history, columns=HISTORY_COLUMNS)
        await conn.execute("ANALYZE calls; ANALYZE tickets; ANALYZE ticket_history")
    finally:
        await conn.close()
    return time.perf_counter() - t0


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
            calendar = None
            if not args.around_the_clock:
                db = Database(url)
                try:  # before the tickets exist: no SLA timers, the report's SLA section stays empty as before
                    await import_sla(db, TENANT, SLA)
                finally:
                    await db.close()
                calendar = Calendar.from_config(CALENDAR)
            seconds = await load(url, f"{base}/{name}", args.calls, args.tickets, calendar)
            print(f"insert: {args.calls:,} calls + {args.tickets:,} tickets (COPY + ANALYZE) in {seconds:.1f} s")
        db = Database(url)
        try:
            timings: dict[str, list[float]] = {"json": [], "html": []}
            for run in range(1, args.runs + 1):
                for fmt in ("json", "html"):
                    t0 = time.perf_counter()
                    built, text = await report.produce(db, TENANT, MONTH, fmt)
                    elapsed = time.perf_counter() - t0
                    timings[fmt].append(elapsed)
                    print(f"run {run} {fmt:>4}: {elapsed:.3f} s ({len(text):,} chars)")
            for fmt, times in timings.items():
                print(f"{fmt}: best {min(times):.3f} s, worst {max(times):.3f} s over {len(times)} runs")
            t0 = time.perf_counter()
            built = await report.build(db, TENANT, MONTH)
            t1 = time.perf_counter()
            await report.render(built, "html")
            t2 = time.perf_counter()
            print(f"of which (once more, one after the other): figures {t1 - t0:.3f} s, HTML text {t2 - t1:.3f} s")
            c = built.calls
            print(
                f"month: {c.offered:,} offered, {c.outside_hours:,} outside business hours ({c.closed:,} closed,"
                f" {c.answered_outside_hours:,} answered), {c.transfers_in:,} transfers in,"
                f" {built.tickets.created:,} tickets, reachability {c.reachability:.4f};"
                f" business hours: {built.business_hours}"
            )
            if args.verify:
                start, end = report.month_period(MONTH)
                t0 = time.perf_counter()
                streamed = await queries.call_kpis(db, TENANT, start, end)
                facts = await queries.ticket_facts(db, TENANT, start, end)
                direct = kpi.ticket_kpis(facts)
                elapsed = time.perf_counter() - t0
                same = streamed == built.calls and direct == built.tickets
                print(f"verify: kpi.py streamed over the same rows in {elapsed:.1f} s; identical: {same}")
                if not same:
                    raise SystemExit(1)
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
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database (drop it yourself)")
    parser.add_argument("--reuse", metavar="NAME", help="time a database kept by --keep (no load)")
    parser.add_argument("--verify", action="store_true", help="also compare with kpi.py streamed over the rows")
    parser.add_argument("--around-the-clock", action="store_true", help="no business calendar for the tenant")
    parser.add_argument("--dsn", default=os.environ.get("UHD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"))
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
