"""The SLA scanner's due-scan at scale: 100,000 open tickets with persisted due instants, one indexed query.

    python bench/escalation_scan.py [--tickets 100000] [--due 1000] [--database-url URL ...] [--seed 1]

For each database (default: a fresh SQLite file; give PostgreSQL as ``--database-url
postgresql+asyncpg://user@host/db``, its bench tenant's rows are deleted first) it writes ``--tickets`` open
tickets of one tenant with an SLA, each with a timer: ``--due`` of them due now, 10 % with the clock standing
(NULL: waiting on the caller), the rest due over the next 30 days. Then it measures:

- the due-scan (``SlaScanner.due_query``: ``next_due_at <= now ORDER BY next_due_at LIMIT 100``) as the scanner
  runs it every 15 s, against a baseline of the same query with the index switched off (PostgreSQL:
  ``enable_indexscan/bitmapscan = off``; SQLite: ``NOT INDEXED``), and prints the plan (EXPLAIN ANALYZE on
  PostgreSQL, EXPLAIN QUERY PLAN on SQLite) — it must name ``ix_sla_timers_next_due_at``;
- one ``scan_once`` firing the due tickets (their breaches: escalation row, history row, mail per contact, next
  due instant — each ticket one transaction), as escalations per second.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import TextClause, bindparam, delete, insert, select, text

from uhd_telephony.outbox.models import outbox
from uhd_telephony.sla.escalation import SlaScanner
from uhd_telephony.sla.models import escalations, sla_timers
from uhd_telephony.sla.policy import import_sla
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets.history import history
from uhd_telephony.tickets.view import tickets

TENANT = "bench-sla"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BATCH = 5_000
INDEX = "ix_sla_timers_next_due_at"
SLA = {
    "calendar": {
        "hours": {d: ["07:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": {"state": "NW"},
    },
    "policies": {p: {"response": f"{p}h", "resolution": f"{8 * p}h"} for p in range(1, 6)},
    "contacts": [
        {"name": "Teamleitung", "level": 1, "mail": ["teamleitung@bench.example"]},
        {"name": "IT-Leitung", "level": 2, "mail": ["it-leitung@bench.example"]},
    ],
}
DUE_SQL = (
    "SELECT ticket_id FROM sla_timers {hint} WHERE next_due_at IS NOT NULL AND next_due_at <= :now "
    "ORDER BY next_due_at, ticket_id LIMIT 100"
)


async def clean(db: Database) -> None:
    async with db.engine.begin() as conn:
        ids = select(tickets.c.id).where(tickets.c.tenant == TENANT).scalar_subquery()
        await conn.execute(delete(sla_timers).where(sla_timers.c.tenant == TENANT))
        await conn.execute(delete(escalations).where(escalations.c.tenant == TENANT))
        await conn.execute(delete(history).where(history.c.ticket_id.in_(ids)))
        await conn.execute(delete(outbox).where(outbox.c.tenant == TENANT))
        await conn.execute(delete(tickets).where(tickets.c.tenant == TENANT))


async def populate(db: Database, count: int, due: int, rng: random.Random) -> None:
    """Open tickets and their timers, written in bulk (the service's write path is not what is measured)."""
    created = NOW - timedelta(days=10)
    async with db.engine.begin() as conn:
        first = (await conn.execute(select(tickets.c.id).order_by(tickets.c.id.desc()).limit(1))).scalar() or 0
    for start in range(0, count, BATCH):
        rows, timers = [], []
        for n in range(start, min(start + BATCH, count)):
            ticket_id = first + n + 1
            rows.append({
                "id": ticket_id, "number": f"BENCH-{ticket_id:09d}", "tenant": TENANT, "status": "in_progress",
                "channel": "web", "subject": f"Störung {n}", "description": "", "requester_number": "",
                "requester_name": "Bench", "vip": False, "priority": 1 + n % 5, "created_at": created,
                "updated_at": created, "support_group": "1st_level",
            })  # fmt: skip
            if n < due:
                next_due: datetime | None = NOW - timedelta(seconds=rng.randint(1, 3600))
            elif rng.random() < 0.1:
                next_due = None  # waiting on the caller: not in the partial index
            else:
                next_due = NOW + timedelta(seconds=rng.randint(1, 30 * 86400))
            timers.append({"ticket_id": ticket_id, "tenant": TENANT, "next_due_at": next_due, "computed_at": created})
        async with db.engine.begin() as conn:
            await conn.execute(insert(tickets), rows)
            await conn.execute(insert(sla_timers), timers)
    async with db.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))


def typed(sql: str) -> TextClause:
    """The statement with ``:now`` bound as the column's type (UTC; naive text on SQLite, as stored)."""
    return text(sql).bindparams(bindparam("now", type_=sla_timers.c.next_due_at.type))


async def time_query(db: Database, sql: str, runs: int, *, seqscan: bool = False) -> list[float]:
    times = []
    async with db.engine.connect() as conn:
        if seqscan and conn.dialect.name == "postgresql":
            await conn.execute(text("SET enable_indexscan = off"))
            await conn.execute(text("SET enable_bitmapscan = off"))
            await conn.execute(text("SET enable_indexonlyscan = off"))
        for _ in range(runs):
            began = time.perf_counter()
            found = (await conn.execute(typed(sql), {"now": NOW})).all()
            times.append(time.perf_counter() - began)
            assert len(found) == 100
        await conn.rollback()
    return times


async def plan(db: Database, sql: str) -> str:
    async with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = (await conn.execute(typed("EXPLAIN (ANALYZE, BUFFERS) " + sql), {"now": NOW})).scalars().all()
            return "\n".join(str(r) for r in rows)
        rows = (await conn.execute(typed("EXPLAIN QUERY PLAN " + sql), {"now": NOW})).all()
        return "\n".join(str(r[-1]) for r in rows)


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(values) * 1000:7.3f} ms, p99 {p99 * 1000:7.3f} ms"


async def bench(url: str, count: int, due: int, rng: random.Random, runs: int) -> dict[str, Any]:
    await migrate(url)
    async with Database(url) as db:
        dialect = db.engine.dialect.name
        await clean(db)
        await import_sla(db, TENANT, SLA, now=NOW - timedelta(days=11))
        began = time.perf_counter()
        await populate(db, count, due, rng)
        print(f"\n== {dialect}: {count:,} open tickets with timers ({due:,} due) written in "
              f"{time.perf_counter() - began:.1f} s")  # fmt: skip
        indexed_sql = DUE_SQL.format(hint="")
        # a text of its own: PostgreSQL must plan it afresh (a cached generic plan ignores enable_indexscan)
        baseline_sql = DUE_SQL.format(hint="NOT INDEXED" if dialect == "sqlite" else "/* baseline */")
        # the scanner's own statement, compiled by SQLAlchemy, is what runs every 15 s: time it too
        scanner = SlaScanner(db, clock=lambda: NOW)
        async with db.engine.connect() as conn:
            await conn.execute(scanner.due_query(NOW))  # warm the statement cache
            own = []
            for _ in range(runs):
                t0 = time.perf_counter()
                assert len((await conn.execute(scanner.due_query(NOW))).all()) == 100
                own.append(time.perf_counter() - t0)
        raw = await time_query(db, indexed_sql, runs)
        baseline = await time_query(db, baseline_sql, max(1, runs // 4), seqscan=True)
        shown = await plan(db, indexed_sql)
        print(f"due-scan (SlaScanner.due_query, LIMIT 100):   {ms(own)}")
        print(f"the same as plain SQL:                         {ms(raw)}")
        print(f"baseline (same query, index off):              {ms(baseline)}   "
              f"ratio {statistics.median(baseline) / statistics.median(own):.0f}x")  # fmt: skip
        print("plan:\n  " + shown.replace("\n", "\n  "))
        assert INDEX in shown, f"the due-scan does not use {INDEX}"
        began = time.perf_counter()
        fired = await scanner.scan_once()
        took = time.perf_counter() - began
        print(f"scan_once over the {due:,} due tickets: {fired:,} escalations fired in {took:.2f} s "
              f"({fired / took:,.0f}/s, {took / due * 1000:.2f} ms per ticket)")  # fmt: skip
        await clean(db)
        return {"dialect": dialect, "scan_median_ms": statistics.median(own) * 1000, "fired": fired, "fire_s": took}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=200, help="timed executions of the due-scan")
    parser.add_argument("--database-url", action="append", default=[], help="repeatable; default: a SQLite file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = args.database_url or [f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"]
        for url in urls:
            asyncio.run(bench(url, args.tickets, args.due, random.Random(args.seed), args.runs))


if __name__ == "__main__":
    main()
