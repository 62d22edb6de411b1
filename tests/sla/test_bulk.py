"""Escalations fired in bulk: a page of due timers claimed and fired in one transaction writes what firing each
ticket on its own writes; two scanners over the same due set fire each escalation once; a ticket whose firing
fails holds up no other; a database gone mid-scan leaves the rest due for the next scan; a scan is a handful of
statements per page, not per ticket."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.engine import make_url

from tests.sla.claims import both_waiting_on_the_claim
from tests.sla.conftest import AGENT, API, MONDAY_9, OTHER, TENANT, World, berlin
from tests.support.proxy import TcpProxy, pg_proxy  # noqa: F401  (the fixture)
from tests.support.sla_data import KIS_LEAD, MANAGEMENT, TEAM_LEAD, sla_data
from uhd_telephony.outbox.models import outbox
from uhd_telephony.sla.escalation import SlaScanner
from uhd_telephony.sla.models import escalations, sla_contacts, sla_timers
from uhd_telephony.sla.policy import LoadedSlas, import_sla
from uhd_telephony.store.db import Database, is_unavailable
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets.history import history
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.service import TicketService
from uhd_telephony.tickets.workflow import TicketWorkflow

HOOK = "https://hooks.klinikum-sued.example/sla"
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


async def _count(db: Database, stmt: Any) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


async def _due_now(db: Database, moment: datetime) -> int:
    stmt = select(func.count()).where(sla_timers.c.next_due_at.is_not(None), sla_timers.c.next_due_at <= moment)
    return await _count(db, stmt)


async def _exactly_once(db: Database, expected: int) -> None:
    """``expected`` escalations, each once, with one history row and one message each (one mail contact)."""
    assert await _count(db, select(func.count()).select_from(escalations)) == expected
    distinct = select(escalations.c.ticket_id, escalations.c.kind, escalations.c.target).distinct().subquery()
    assert await _count(db, select(func.count()).select_from(distinct)) == expected
    assert await _count(db, select(func.count()).where(history.c.action == "escalated")) == expected
    assert await _count(db, select(func.count()).where(outbox.c.dedupe_key.like("escalation:%"))) == expected


# -- a page fired together writes what each ticket fired alone writes --------------------------------------------


async def _mixed_page(world: World) -> list[int]:
    """Tickets of two tenants created Monday 09:00 that differ in everything the firing looks at."""
    await import_sla(world.db, OTHER, sla_data(contacts=[
        {"name": "Leitstelle", "level": 1, "mail": ["leitstelle@klinikum-sued.example"],
         "webhook": {"url": HOOK, "secret": SECRET}},
        {"name": "Direktion", "level": 2, "webhook": {"url": HOOK, "secret": SECRET}},
    ]), now=MONDAY_9)  # fmt: skip
    plain = await world.ticket(subject="Drucker")
    kis = await world.ticket(subject="KIS-Anmeldung")
    await world.tickets.classify(TENANT, kis.id, category_id=await world.category_id("kis/login"), impact=3,
                                 urgency=3, actor=API)  # fmt: skip
    urgent = await world.ticket(subject="Netz weg")
    await world.tickets.classify(TENANT, urgent.id, category_id=await world.category_id("infrastructure/lan"),
                                 impact=1, urgency=1, actor=API)  # fmt: skip
    answered = await world.ticket(subject="Maus")
    await world.respond(answered.id)
    waiting = await world.ticket(subject="Rückruf")
    await world.respond(waiting.id)
    await world.move(waiting.id, "waiting", "Station ruft zurück", actor=AGENT)
    done = await world.ticket(subject="Erledigt")
    await world.move(done.id, "resolved", "von selbst", actor=AGENT)
    another = await world.ticket(subject="Noch ein Drucker")
    sued = [await world.ticket(tenant=OTHER, subject=f"Süd {n}") for n in range(2)]
    return [t.id for t in (plain, kis, urgent, answered, waiting, done, another, *sued)]


async def _marks(world: World) -> tuple[int, int, int]:
    async with world.db.engine.connect() as conn:
        marks = [
            (await conn.execute(select(func.coalesce(func.max(t.c.id), 0)))).scalar_one()
            for t in (escalations, history, outbox)
        ]
    return marks[0], marks[1], marks[2]


async def _written(world: World, since: tuple[int, int, int]) -> dict[str, Any]:
    """What was written after ``since`` (escalations, history, outbox) and every timer, escalation ids named by
    (ticket, kind, target) so that two runs compare."""
    e0, h0, o0 = since
    async with world.db.engine.connect() as conn:
        fired = [dict(r) for r in (await conn.execute(select(escalations).where(escalations.c.id > e0))).mappings()]
        names = {r["id"]: f"<{r['ticket_id']}/{r['kind']}/{r['target']}>" for r in fired}

        def named(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: names.get(v, v) if k == "id" and "kind" in value else named(v) for k, v in value.items()}
            if isinstance(value, list):
                return [named(v) for v in value]
            if isinstance(value, str):
                return re.sub(r"(#|escalation:|/escalations/)(\d+)", lambda m: m[1] + names.get(int(m[2]), m[2]), value)
            return value

        rows = {
            "escalations": sorted(
                (named({k: v for k, v in r.items() if k != "id"}) for r in fired),
                key=lambda r: json.dumps(r, default=str),
            ),
            "history": [
                named({k: v for k, v in dict(r).items() if k != "id"})
                for r in (
                    await conn.execute(select(history).where(history.c.id > h0).order_by(history.c.id))
                ).mappings()
            ],
            "outbox": sorted(
                (
                    named({k: v for k, v in dict(r).items() if k != "id"})
                    for r in (await conn.execute(select(outbox).where(outbox.c.id > o0))).mappings()
                ),
                key=lambda r: json.dumps(r, default=str, sort_keys=True),
            ),
            "timers": [
                dict(r) for r in (await conn.execute(select(sla_timers).order_by(sla_timers.c.ticket_id))).mappings()
            ],
        }
    return rows


async def test_a_page_fired_together_writes_what_each_ticket_fired_alone_writes(world: World) -> None:
    ids = await _mixed_page(world)
    # 10:30: the warnings (the KIS branch's own contact; the other tenant's mail and webhook), the 24/7 ticket's
    # response breach; 11:00: the response breaches of the warned tickets (the KIS branch has no level 2)
    for moment, expected in ((berlin(2026, 3, 2, 10, 30), 6), (berlin(2026, 3, 2, 11, 0), 5)):
        # every timer due, as an import re-arms them: the page recomputes each, fires what is due, stores the rest
        async with world.db.engine.begin() as conn:
            await conn.execute(update(sla_timers).where(sla_timers.c.ticket_id.in_(ids)).values(next_due_at=MONDAY_9))
            timers_before = [dict(r) for r in (await conn.execute(select(sla_timers))).mappings()]
        since = await _marks(world)

        assert await SlaScanner(world.db, clock=lambda m=moment: m, batch_size=50).scan_once() == expected
        together = await _written(world, since)

        # the same state again: what the page wrote taken out, the timers as they were; then ticket by ticket
        async with world.db.engine.begin() as conn:
            await conn.execute(outbox.delete().where(outbox.c.id > since[2]))
            await conn.execute(history.delete().where(history.c.id > since[1]))
            await conn.execute(escalations.delete().where(escalations.c.id > since[0]))
            for timer in timers_before:
                stmt = update(sla_timers).where(sla_timers.c.ticket_id == timer["ticket_id"]).values(timer)
                await conn.execute(stmt)
        alone = SlaScanner(world.db, clock=lambda m=moment: m)
        assert sum([await alone.handle(ticket_id, moment) for ticket_id in sorted(ids)]) == expected
        assert together == await _written(world, since)
        assert all(t["next_due_at"] is None or t["next_due_at"] > moment for t in together["timers"])

    sent = [(r["channel"], r["target"]) for r in await world.outbox()]
    assert sorted(set(sent)) == sorted([
        ("mail", TEAM_LEAD), ("mail", KIS_LEAD), ("mail", MANAGEMENT), ("mail", "leitstelle@klinikum-sued.example"),
        ("webhook", HOOK),
    ])  # fmt: skip
    assert sent.count(("mail", TEAM_LEAD)) == 2 and sent.count(("mail", KIS_LEAD)) == 1
    assert sent.count(("mail", MANAGEMENT)) == 4 and sent.count(("webhook", HOOK)) == 4


# -- two scanners over the same due set -----------------------------------------------------------------------


async def test_two_scanners_over_the_same_due_set_fire_each_escalation_once(world: World) -> None:
    """Both find the same pages due and claim them at the same moment; on PostgreSQL a third transaction holds
    the first timer so that both claims queue behind it and the loser's claim is decided on the rows the winner
    committed. Every escalation exactly once, no deadlock, nothing left due."""
    count = 40
    ids = [(await world.ticket(subject=f"Störung {n}")).id for n in range(count)]
    moments = [berlin(2026, 3, 2, 10, 30), berlin(2026, 3, 2, 11, 0)]  # the response warnings, then breaches
    postgres = make_url(world.url).get_backend_name() == "postgresql"
    async with Database(world.url) as other, Database(world.url) as blocker:
        for round_, moment in enumerate(moments, start=1):
            scanners = [SlaScanner(db, clock=lambda m=moment: m, batch_size=15) for db in (world.db, other)]
            if postgres:
                async with blocker.engine.begin() as lock:
                    first = select(sla_timers).where(sla_timers.c.ticket_id == min(ids)).with_for_update()
                    await lock.execute(first)
                    scans = [asyncio.create_task(s.scan_once()) for s in scanners]
                    await both_waiting_on_the_claim(blocker)
                results = await asyncio.gather(*scans)
            else:
                results = await asyncio.gather(*(s.scan_once() for s in scanners))
            assert sum(results) == count, results
            await _exactly_once(world.db, round_ * count)
            assert await _due_now(world.db, moment) == 0
    assert sorted({e["ticket_id"] for e in await world.escalations()}) == sorted(ids)


# -- failures -------------------------------------------------------------------------------------------------


async def test_a_ticket_whose_firing_fails_holds_up_no_other(world: World, caplog: pytest.LogCaptureFixture) -> None:
    tickets = [await world.ticket(subject=f"Störung {n}") for n in range(9)]
    kis = tickets[4]
    await world.tickets.classify(TENANT, kis.id, category_id=await world.category_id("kis/login"), impact=3,
                                 urgency=3, actor=API)  # fmt: skip
    # bad data: the KIS branch's contact edited by hand to a webhook the outbox refuses
    broken = sla_contacts.c.name == "KIS-Koordination"
    async with world.db.engine.begin() as conn:
        await conn.execute(update(sla_contacts).where(broken).values(webhook_url="ftp://kis", webhook_secret=SECRET))
    moment = berlin(2026, 3, 2, 10, 30)
    scanner = SlaScanner(world.db, clock=lambda: moment, batch_size=4)
    assert await scanner.scan_once() == 8  # every page, the one with the broken ticket too
    assert await world.fired(kis.id) == [] and await world.due(kis.id) == moment  # it stays due
    assert scanner.failing == {kis.id}
    assert f"SLA: ticket {kis.id} failed" in caplog.text
    # the next scans try it alone; the rest of its page fires together as before
    assert await scanner.scan_once() == 0 and scanner.failing == {kis.id}
    async with world.db.engine.begin() as conn:
        await conn.execute(update(sla_contacts).where(broken).values(webhook_url=None, webhook_secret=None))
    assert await scanner.scan_once() == 1 and scanner.failing == set()
    assert await world.fired(kis.id) == [("response", "warning")]
    await _exactly_once(world.db, 9)


async def test_a_database_gone_mid_scan_leaves_the_rest_due_for_the_next_scan(
    pg_url: str,
    pg_proxy: TcpProxy,  # noqa: F811  (the fixture)
) -> None:
    """The database goes away after the first page: the scan fails (the periodic task logs it and retries at
    its next round) without trying the rest ticket by ticket; the next scan fires the rest, nothing twice."""
    await migrate(pg_url)
    via_proxy = make_url(pg_url).set(port=pg_proxy.port).render_as_string(hide_password=False)
    moment = berlin(2026, 3, 2, 10, 30)
    async with Database(pg_url) as db, Database(via_proxy) as flaky:
        await import_sla(db, TENANT, sla_data())
        workflow = TicketWorkflow(TicketService(db, now=lambda: MONDAY_9))
        for n in range(12):
            await workflow.service.create(TENANT, channel="web", subject=f"Störung {n}",
                                          requester=Requester(name="X"), actor="api:test")  # fmt: skip

        class GoneAfterOnePage(SlaScanner):
            async def fire_due(self, *args: Any, **kwargs: Any) -> int:
                fired = await super().fire_due(*args, **kwargs)
                await pg_proxy.cut()
                return fired

        scanner = GoneAfterOnePage(flaky, clock=lambda: moment, batch_size=5)
        with pytest.raises(Exception) as gone:
            await scanner.scan_once()
        assert is_unavailable(gone.value), repr(gone.value)
        assert scanner.fired == 5 and scanner.failing == set()
        assert await _due_now(db, moment) == 7
        await pg_proxy.restore()
        assert await SlaScanner(flaky, clock=lambda: moment).scan_once() == 7
        await _exactly_once(db, 12)


# -- the cost of a scan ---------------------------------------------------------------------------------------


async def test_a_scan_is_a_handful_of_statements_per_page_not_per_ticket(world: World) -> None:
    for n in range(30):
        await world.ticket(subject=f"Störung {n}")
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split())[:60])

    scanner = SlaScanner(world.db, clock=lambda: berlin(2026, 3, 2, 10, 30), batch_size=10)
    event.listen(world.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        assert await scanner.scan_once() == 30
    finally:
        event.remove(world.db.engine.sync_engine, "before_cursor_execute", record)
    # per page: the due query, the claim, the tickets, the SLA's stamp, the status rows, the escalations so far,
    # the escalation rows, the names (categories, groups, tenants), the history rows, the outbox rows, the timers;
    # the SLA itself (3) once per scan; the due query that finds nothing left
    assert len(statements) <= 3 * 13 + 3 + 1, statements
    assert sum(s.startswith("SELECT sla_policies") for s in statements) == 1, statements


async def test_a_scan_loads_an_sla_again_once_an_import_replaced_it(world: World) -> None:
    slas = LoadedSlas()
    async with world.db.engine.connect() as conn:
        first = (await slas.of(conn, [TENANT, OTHER]))[TENANT]
        assert (await slas.of(conn, [TENANT]))[TENANT] is first  # loaded once
        assert OTHER not in await slas.of(conn, [OTHER])  # no SLA
    await import_sla(world.db, TENANT, sla_data(warning_at=0.5), now=berlin(2026, 3, 2, 12, 0))
    async with world.db.engine.connect() as conn:
        replaced = (await slas.of(conn, [TENANT]))[TENANT]
    assert replaced is not first and replaced.policies[3].warn_share == 0.5


async def test_every_page_of_the_due_scan_reads_the_index_in_its_order(sqlite_url: str) -> None:
    await migrate(sqlite_url)

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> Any:
        return "EXPLAIN QUERY PLAN " + statement, parameters

    moment = berlin(2026, 3, 2, 10, 30)
    async with Database(sqlite_url) as db:
        scanner = SlaScanner(db, clock=lambda: moment)
        event.listen(db.engine.sync_engine, "before_cursor_execute", explain, retval=True)
        async with db.engine.connect() as conn:
            for after in (None, (berlin(2026, 3, 2, 9, 0), 17)):  # the first page, and the page after a row
                details = " ".join(str(row[-1]) for row in await conn.execute(scanner.due_query(moment, after)))
                assert "USING COVERING INDEX ix_sla_timers_next_due_at" in details, details
                assert "TEMP B-TREE" not in details, details
