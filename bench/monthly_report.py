"""The monthly report of one tenant over a big month in PostgreSQL: how long JSON and HTML take.

    python bench/monthly_report.py [--calls 1000000] [--tickets 300000] [--dsn postgresql://postgres@127.0.0.1/test]
                                   [--runs 3] [--verify]

Creates a throwaway database (dropped afterwards), migrates it, and bulk-loads with COPY (asyncpg
``copy_records_to_table``) ``--calls`` queue stays of one tenant in November 2026 (every outcome, 5 % blind
transfers: the same linkedid in a second queue, closed calls outside business hours, calls at the month's edges)
plus 2 % of them in October and December and another tenant, and ``--tickets`` tickets with their ``created``,
``routed`` and ``escalated`` history rows. ``ANALYZE`` after the load, as autovacuum would.

Prints the insert time, then per run the report time for JSON (``report.build`` + ``render``) and HTML (the same
plus matplotlib/Jinja2 in the executor). ``--verify`` also streams the month through ``kpi.CallTally``
(``queries.call_kpis``, the KPI API's path) and ``kpi.ticket_kpis`` and checks the figures are the same, and
prints how long that path takes. Target: the report under 2 s at 1,000,000 calls and 300,000 tickets.
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
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, categories, import_categories

TENANT, OTHER = "klinikum-nord", "klinikum-sued"
MONTH = "2026-11"
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


def call_rows(n: int, rng: random.Random) -> list[tuple]:
    start, end = report.month_period(MONTH)
    span = (end - start).total_seconds()
    names = [o for o, _ in OUTCOMES]
    weights = [w for _, w in OUTCOMES]
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
        at = start + timedelta(seconds=rng.random() * span)
        tenant = OTHER if rng.random() < 0.01 else TENANT
        if rng.random() < 0.01:  # a little of October and December
            at += timedelta(days=rng.choice((-31, 31)))
        linkedid = f"l{len(rows)}"
        if rng.random() < 0.05:  # a blind transfer: answered in the hotline, on into the 2nd-level queue
            add(tenant, at, "transferred", linkedid)
            add(tenant, at + timedelta(seconds=90), rng.choice(("answered", "answered", "abandoned")), linkedid, "l2")
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


async def load(url: str, dsn: str, n_calls: int, n_tickets: int) -> float:
    rng = random.Random(6)
    calls = call_rows(n_calls, rng)
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
            seconds = await load(url, f"{base}/{name}", args.calls, args.tickets)
            print(f"insert: {args.calls:,} calls + {args.tickets:,} tickets (COPY + ANALYZE) in {seconds:.1f} s")
        db = Database(url)
        try:
            for run in range(1, args.runs + 1):
                for fmt in ("json", "html"):
                    t0 = time.perf_counter()
                    built = await report.build(db, TENANT, MONTH)
                    t1 = time.perf_counter()
                    text = await report.render(built, fmt)
                    t2 = time.perf_counter()
                    print(
                        f"run {run} {fmt:>4}: {t2 - t0:.3f} s (figures {t1 - t0:.3f} s, render {t2 - t1:.3f} s,"
                        f" {len(text):,} chars)"
                    )
            c = built.calls
            print(
                f"month: {c.offered:,} offered, {c.closed:,} closed, {c.transfers_in:,} transfers in,"
                f" {built.tickets.created:,} tickets, reachability {c.reachability:.4f}"
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
        if args.keep:
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
    parser.add_argument("--dsn", default=os.environ.get("UHD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"))
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
