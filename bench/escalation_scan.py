"""The SLA scanner at scale: 100,000 open tickets with persisted due instants, 1,000 of them falling due together.

    python bench/escalation_scan.py [--tickets 100000] [--due 1000] [--rounds 3] [--database-url URL ...]

For each database (default: a fresh SQLite file; give PostgreSQL as ``--database-url
postgresql+asyncpg://user@host/db``, its bench tenant's rows are deleted first) it writes ``--tickets`` open
tickets of one tenant whose SLA has two contacts (level 1: a mail; level 2: a mail and a webhook), each ticket with
a timer: ``--due`` of them due now — half after an outage (created 10 days ago: both breaches fire, level 2, a mail
and a webhook each), half fresh (created 50 minutes ago at priority 1: the response warning fires, level 1, a
mail) —, 10 % of the rest with the clock standing (NULL: waiting on the caller), the rest due over the next 30
days. Then it measures:

1. the due-scan (``SlaScanner.due_query``: ``next_due_at <= now ORDER BY next_due_at, ticket_id LIMIT 100``) as
   the scanner runs it, ``--runs`` times, against a baseline of the same query with the index switched off
   (PostgreSQL: ``enable_indexscan/bitmapscan = off``; SQLite: ``NOT INDEXED``), and prints the plan (EXPLAIN
   ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite) — it must name ``ix_sla_timers_next_due_at``;
2. firing the due tickets: one ``SlaScanner.scan_once()`` as the service runs it (its engine, the default page
   of 100 tickets per transaction, INFO logging with the service's format and redaction, to /dev/null), and as
   the baseline in the same run the per-ticket path it replaced (``old_scan_once`` below: the code before issue
   17, one transaction and ~30 statements per ticket, the SLA loaded for every ticket). The two alternate,
   ``--rounds`` times each, over the same due set (what a round wrote is deleted and the timers set due again
   before the next). Each prints tickets fired, escalations written, outbox rows queued (mails and webhooks),
   transactions and statements (an executemany counts once), and seconds per round; the rows both write are
   compared (the same escalations, history rows and messages, ids aside).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import TextClause, bindparam, delete, event, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.app.cli import setup_logging
from uhd_telephony.i18n import DEFAULT_LOCALE
from uhd_telephony.outbox.models import outbox
from uhd_telephony.outbox.service import enqueue
from uhd_telephony.sla.calendar import describe_in
from uhd_telephony.sla.clock import Deadline, Kind, pending
from uhd_telephony.sla.clock import due as due_now
from uhd_telephony.sla.escalation import HISTORY_FIELD, SlaScanner, escalation_body, escalation_text, label
from uhd_telephony.sla.models import escalations, sla_timers
from uhd_telephony.sla.policy import TenantSla, contacts_for, import_sla, load_sla
from uhd_telephony.sla.timers import Plan, plan, store
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets import history_text
from uhd_telephony.tickets.history import SYSTEM, Action, Change, history, iso
from uhd_telephony.tickets.view import tickets, view_select

TENANT = "bench-sla"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday 10:00 in Berlin, inside the business hours
BATCH = 5_000
INDEX = "ix_sla_timers_next_due_at"
HOOK = "https://hooks.bench.example/sla"
SLA = {
    "calendar": {
        "hours": {d: ["07:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": {"state": "NW"},
    },
    "policies": {p: {"response": f"{p}h", "resolution": f"{8 * p}h"} for p in range(1, 6)},
    "contacts": [
        {"name": "Teamleitung", "level": 1, "mail": ["teamleitung@bench.example"]},
        {"name": "IT-Leitung", "level": 2, "mail": ["it-leitung@bench.example"],
         "webhook": {"url": HOOK, "secret": "whsec_" + base64.b64encode(bytes(range(32))).decode()}},
    ],
}  # fmt: skip
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


async def populate(db: Database, count: int, due: int, rng: random.Random) -> dict[int, datetime]:
    """Open tickets and their timers, written in bulk (the service's write path is not what is measured); the due
    tickets' timers."""
    old, fresh = NOW - timedelta(days=10), NOW - timedelta(minutes=50)
    due_timers: dict[int, datetime] = {}
    async with db.engine.begin() as conn:
        first = (await conn.execute(select(tickets.c.id).order_by(tickets.c.id.desc()).limit(1))).scalar() or 0
    for start in range(0, count, BATCH):
        rows, timers = [], []
        for n in range(start, min(start + BATCH, count)):
            ticket_id = first + n + 1
            created, priority = (fresh, 1) if n < due and n % 2 else (old, 1 + n % 5)
            rows.append({
                "id": ticket_id, "number": f"BENCH-{ticket_id:09d}", "tenant": TENANT, "status": "in_progress",
                "channel": "web", "subject": f"Störung {n}", "description": "", "requester_number": "",
                "requester_name": "Bench", "vip": False, "priority": priority, "created_at": created,
                "updated_at": created, "support_group": "1st_level",
            })  # fmt: skip
            next_due: datetime | None
            if n < due:
                due_timers[ticket_id] = next_due = NOW - timedelta(seconds=rng.randint(1, 300))
            elif rng.random() < 0.1:
                next_due = None  # waiting on the caller: not in the partial index
            else:
                next_due = NOW + timedelta(seconds=rng.randint(1, 30 * 86400))
            timers.append({"ticket_id": ticket_id, "tenant": TENANT, "next_due_at": next_due, "computed_at": created})
        async with db.engine.begin() as conn:
            await conn.execute(insert(tickets), rows)
            await conn.execute(insert(sla_timers), timers)
    await settle(db)
    return due_timers


# -- 1. the due-scan ------------------------------------------------------------------------------------------


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


async def explain(db: Database, sql: str) -> str:
    async with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = (await conn.execute(typed("EXPLAIN (ANALYZE, BUFFERS) " + sql), {"now": NOW})).scalars().all()
            return "\n".join(str(r) for r in rows)
        rows = (await conn.execute(typed("EXPLAIN QUERY PLAN " + sql), {"now": NOW})).all()
        return "\n".join(str(r[-1]) for r in rows)


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(values) * 1000:7.3f} ms, p99 {p99 * 1000:7.3f} ms (n={len(values)})"


async def due_scan(db: Database, runs: int) -> float:
    dialect = db.engine.dialect.name
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
    shown = await explain(db, indexed_sql)
    print(f"due-scan (SlaScanner.due_query, LIMIT 100):   {ms(own)}")
    print(f"the same as plain SQL:                         {ms(raw)}")
    print(f"baseline (same query, index off):              {ms(baseline)}   "
          f"ratio {statistics.median(baseline) / statistics.median(own):.0f}x")  # fmt: skip
    print("plan:\n  " + shown.replace("\n", "\n  "))
    assert INDEX in shown, f"the due-scan does not use {INDEX}"
    return statistics.median(own)


# -- 2. the baseline: the per-ticket path before issue 17, as it was -------------------------------------------


def _hm(seconds: float) -> str:
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _insert_escalation(dialect: str, values: dict[str, Any]) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(escalations).values(values)
    return stmt.on_conflict_do_nothing(
        index_elements=[escalations.c.ticket_id, escalations.c.kind, escalations.c.target]
    ).returning(escalations.c.id)


async def old_fire(
    conn: AsyncConnection, current: Plan, deadline: Deadline, sla: TenantSla, at: datetime
) -> int | None:  # fmt: skip
    """``escalation.fire`` before issue 17: the ticket read, one escalation, one history append, the names read
    and one enqueue per message — for each deadline."""
    row = (await conn.execute(view_select().where(tickets.c.id == current.ticket_id))).mappings().one()
    level = sla.warning_level if deadline.kind is Kind.WARNING else sla.breach_level
    contacts = contacts_for(sla, level, row["category_path"])
    notified = [{"name": c.name, "channels": list(c.channels())} for c in contacts]
    values = {
        "ticket_id": current.ticket_id, "tenant": current.tenant, "kind": deadline.kind.value,
        "target": deadline.target.value, "level": level, "due_at": deadline.at, "fired_at": at,
        "category_id": row["category_id"], "priority": row["priority"], "notified": notified,
    }  # fmt: skip
    escalation_id = (await conn.execute(_insert_escalation(conn.dialect.name, values))).scalar_one_or_none()
    if escalation_id is None:
        return None
    who = ", ".join(f"{c.name} ({'+'.join(c.channels())})" for c in contacts) or "nobody configured"
    assert current.policy is not None
    target = _hm(current.policy.target(deadline.target).total_seconds())
    note = (
        f"escalation #{escalation_id}: {deadline.target.value} target {target}, "
        f"{deadline.kind.value} due {iso(deadline.at)}; level {level} notified: {who}"
    )
    what = label(deadline.kind, deadline.target)
    await hist.append(conn, current.ticket_id, at, SYSTEM, [Change(Action.ESCALATED, HISTORY_FIELD, None, what, note)])
    body = escalation_body(row, sla, current, deadline, int(escalation_id), level, at)
    names = await history_text.names_for(conn, current.tenant)
    hours = describe_in(current.calendar, DEFAULT_LOCALE)
    for contact in contacts:
        subject, mail = escalation_text(body, contact, names=names, calendar=hours)
        for channel in contact.channels():
            await enqueue(
                conn,
                tenant=current.tenant,
                channel="mail" if channel == "mail" else "webhook",
                target=", ".join(contact.mail) if channel == "mail" else str(contact.webhook_url),
                subject=subject if channel == "mail" else None,
                body={"text": mail} if channel == "mail" else body,
                dedupe_key=f"escalation:{escalation_id}:{contact.id}:{channel}",
                ticket_id=current.ticket_id,
                now=at,
            )
    log = logging.getLogger("uhd_telephony.sla.escalation")
    log.info("ticket %s of %s: %s (escalation #%d), due %s, notified %s", row["number"], current.tenant, what,
             escalation_id, iso(deadline.at), who)  # fmt: skip
    return int(escalation_id)


async def old_handle(db: Database, ticket_id: int, now: datetime) -> int:
    """``SlaScanner.handle`` before issue 17: claim one timer, load the SLA, plan, fire, store; one transaction."""
    async with db.engine.begin() as conn:
        claimed = await conn.execute(
            update(sla_timers)
            .where(
                sla_timers.c.ticket_id == ticket_id,
                sla_timers.c.next_due_at.is_not(None),
                sla_timers.c.next_due_at <= now,
            )
            .values(next_due_at=None, computed_at=now)
            .returning(sla_timers.c.tenant)
        )
        tenant = claimed.scalar_one_or_none()
        if tenant is None:
            return 0
        sla = await load_sla(conn, tenant, with_contacts=True)
        current = await plan(conn, ticket_id, sla=sla)
        if current is None or current.sla is None:
            return 0
        firing = due_now(current.deadlines, now)
        ids = [i for d in firing if (i := await old_fire(conn, current, d, current.sla, now)) is not None]
        done = set(current.fired) | {(d.kind.value, d.target.value) for d in firing}
        ahead = [d for d in pending(current.deadlines, done) if d.at > now]
        await store(conn, ticket_id, current.tenant, min((d.at for d in ahead), default=None), now)
    return len(ids)


async def old_scan_once(db: Database, now: datetime, batch_size: int = 100) -> int:
    """``SlaScanner.scan_once`` before issue 17: the due query, then ``old_handle`` for each ticket."""
    count = 0
    seen: set[int] = set()
    query = (
        select(sla_timers.c.ticket_id)
        .where(sla_timers.c.next_due_at.is_not(None), sla_timers.c.next_due_at <= now)
        .order_by(sla_timers.c.next_due_at, sla_timers.c.ticket_id)
        .limit(batch_size)
    )
    while True:
        async with db.engine.connect() as conn:
            due = [t for t in (await conn.execute(query)).scalars() if t not in seen]
        for ticket_id in due:
            seen.add(ticket_id)
            count += await old_handle(db, ticket_id, now)
        if len(due) < batch_size:
            break
    return count


# -- 2. firing: this code against the baseline -----------------------------------------------------------------


@contextmanager
def counting(db: Database) -> Iterator[dict[str, int]]:
    """Statements (an executemany once) and commits on ``db``'s engine while the block runs."""
    counts = {"statements": 0, "transactions": 0}

    def statement(*_: Any) -> None:
        counts["statements"] += 1

    def commit(*_: Any) -> None:
        counts["transactions"] += 1

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


async def written(db: Database) -> dict[str, Any]:
    """What a round wrote, ids aside: escalations, history rows, outbox rows (subject, target, channel)."""
    async with db.engine.connect() as conn:
        fired = (
            await conn.execute(
                select(escalations.c.ticket_id, escalations.c.kind, escalations.c.target, escalations.c.level,
                       escalations.c.due_at, escalations.c.notified).where(escalations.c.tenant == TENANT)
            )
        ).all()  # fmt: skip
        notes = (
            await conn.execute(
                select(history.c.ticket_id, history.c.new_value).where(
                    history.c.action == Action.ESCALATED.value,
                    history.c.ticket_id.in_(select(tickets.c.id).where(tickets.c.tenant == TENANT)),
                )
            )
        ).all()
        messages = (
            await conn.execute(
                select(outbox.c.ticket_id, outbox.c.channel, outbox.c.target, outbox.c.subject).where(
                    outbox.c.tenant == TENANT
                )
            )
        ).all()
    return {
        "escalations": sorted((t, k, g, lv, d, repr(n)) for t, k, g, lv, d, n in fired),
        "history": sorted(tuple(r) for r in notes),
        "outbox": sorted(tuple(r) for r in messages),
    }


async def rearm(db: Database, due_timers: Mapping[int, datetime]) -> None:
    """Take out what a round wrote and set the due tickets' timers as they were."""
    async with db.engine.begin() as conn:
        await conn.execute(delete(outbox).where(outbox.c.tenant == TENANT))
        ids = select(escalations.c.ticket_id).where(escalations.c.tenant == TENANT)
        await conn.execute(
            delete(history).where(history.c.action == Action.ESCALATED.value, history.c.ticket_id.in_(ids))
        )
        await conn.execute(delete(escalations).where(escalations.c.tenant == TENANT))
        stmt = (
            update(sla_timers)
            .where(sla_timers.c.ticket_id == bindparam("t"))
            .values(next_due_at=bindparam("due"), computed_at=NOW - timedelta(days=10))
        )
        await conn.execute(stmt, [{"t": t, "due": due} for t, due in due_timers.items()])
    await settle(db)


async def settle(db: Database) -> None:
    """Statistics fresh and dead rows gone before a round: no autovacuum of the last round's (or the bulk
    load's) rows competes with the next round for the two cores (VACUUM on PostgreSQL, outside a transaction)."""
    async with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("tickets", "sla_timers", "escalations", "ticket_history", "outbox"):
                await conn.execute(text(f"VACUUM (ANALYZE) {table}"))
        else:
            await conn.execute(text("ANALYZE"))
            await conn.commit()


async def one_round(db: Database, baseline: bool) -> dict[str, Any]:
    with counting(db) as counts:
        began = time.perf_counter()
        if baseline:
            fired = await old_scan_once(db, NOW)
        else:
            fired = await SlaScanner(db, clock=lambda: NOW).scan_once()
        took = time.perf_counter() - began
    async with db.engine.connect() as conn:
        tickets_fired = (
            await conn.execute(
                select(func.count(func.distinct(escalations.c.ticket_id))).where(escalations.c.tenant == TENANT)
            )
        ).scalar_one()
        queued = (await conn.execute(select(func.count()).where(outbox.c.tenant == TENANT))).scalar_one()
        left = (await conn.execute(select(func.count()).where(sla_timers.c.next_due_at <= NOW))).scalar_one()
    return {"s": took, "fired": fired, "tickets": tickets_fired, "queued": queued, "left": left, **counts,
            "rows": await written(db)}  # fmt: skip


def line(name: str, rounds: list[dict[str, Any]]) -> str:
    r = rounds[-1]
    samples = ", ".join(f"{x['s']:.2f}" for x in rounds)
    return (
        f"{name}: {r['tickets']:,} tickets fired, {r['fired']:,} escalations written, {r['queued']:,} outbox rows "
        f"queued, {r['left']} left due; {r['transactions']:,} transactions, {r['statements']:,} statements "
        f"({r['statements'] / max(1, r['tickets']):.1f} per ticket)\n"
        f"    {statistics.median(x['s'] for x in rounds):.2f} s median of {len(rounds)} rounds ({samples} s)"
    )


async def firing(db: Database, due_timers: Mapping[int, datetime], rounds: int) -> dict[str, Any]:
    new: list[dict[str, Any]] = []
    old: list[dict[str, Any]] = []
    for n in range(rounds):
        # alternating, each first in turn: neither gets a warmer machine every time
        for baseline in (False, True) if n % 2 == 0 else (True, False):
            (old if baseline else new).append(await one_round(db, baseline))
            await rearm(db, due_timers)
    print(f"firing the {len(due_timers):,} due tickets, alternating, {rounds} rounds each:")
    print(line("  scan_once (this code: pages of 100, one transaction each)", new))
    print(line("  baseline (the per-ticket path before issue 17)          ", old))
    same = all(r["rows"] == old[0]["rows"] for r in new + old)
    ratio = statistics.median(x["s"] for x in old) / statistics.median(x["s"] for x in new)
    print(f"  ratio {ratio:.1f}x; the same rows written by both (ids aside): {'yes' if same else 'NO'}")
    assert same, "the two paths wrote different rows"
    return {"new_s": statistics.median(x["s"] for x in new), "old_s": statistics.median(x["s"] for x in old)}


async def bench(url: str, count: int, due: int, rng: random.Random, runs: int, rounds: int) -> dict[str, Any]:
    await migrate(url)
    async with Database(url) as db:
        dialect = db.engine.dialect.name
        await clean(db)
        await import_sla(db, TENANT, SLA, now=NOW - timedelta(days=11))
        began = time.perf_counter()
        due_timers = await populate(db, count, due, rng)
        print(f"\n== {dialect}: {count:,} open tickets with timers ({due:,} due) written in "
              f"{time.perf_counter() - began:.1f} s")  # fmt: skip
        scan_s = await due_scan(db, runs)
        figures = await firing(db, due_timers, rounds)
        await clean(db)
        return {"dialect": dialect, "scan_median_ms": scan_s * 1000, **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=200, help="timed executions of the due-scan")
    parser.add_argument("--rounds", type=int, default=3, help="firing rounds of each path")
    parser.add_argument("--database-url", action="append", default=[], help="repeatable; default: a SQLite file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    # the service's logging: INFO, its format and redaction; the lines go nowhere (both paths log the same)
    setup_logging("INFO")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # (open for the life of the process)
    with tempfile.TemporaryDirectory() as tmp:
        urls = args.database_url or [f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"]
        for url in urls:
            asyncio.run(bench(url, args.tickets, args.due, random.Random(args.seed), args.runs, args.rounds))


if __name__ == "__main__":
    main()
