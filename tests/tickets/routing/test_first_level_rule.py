"""The 10-minute rule with an injected clock: persisted due times, routed exactly once, also by two instances."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select, text, update

from tests.outbox.sinks import T0, Clock
from tests.tickets.routing.conftest import SECOND_LEVEL_MAIL, TENANT, World
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.outbox.models import outbox
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets.history import history
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.routing import RULE_REASON, FirstLevelScanner, escalation_target, route
from uhd_telephony.tickets.service import TicketService
from uhd_telephony.tickets.view import tickets

LIMIT = timedelta(seconds=600)


async def _due(db: Database, ticket_id: int) -> object:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(tickets.c.first_level_due_at).where(tickets.c.id == ticket_id))).scalar()


async def _routed_rows(db: Database, ticket_id: int) -> list[dict]:
    async with db.engine.connect() as conn:
        stmt = select(history).where(history.c.ticket_id == ticket_id, history.c.action == "routed")
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


def test_the_rule_sends_a_ticket_to_its_categorys_group_and_never_back_to_1st_level() -> None:
    assert escalation_target(None) == "2nd_level"
    assert escalation_target("1st_level") == "2nd_level"
    assert escalation_target("3rd_level") == "3rd_level"
    assert escalation_target("partner:dedalus") == "partner:dedalus"


async def test_a_phone_ticket_still_at_1st_level_goes_on_once_when_due(world: World) -> None:
    ticket = await world.phone_ticket(1)  # answered at T0 + 1 s
    answered = T0 + timedelta(seconds=1)
    assert await _due(world.db, ticket.id) == answered + LIMIT
    clock = Clock(answered + LIMIT - timedelta(seconds=1))
    scanner = FirstLevelScanner(world.db, clock=clock)
    assert await scanner.scan_once() == 0  # 9:59 after the answer: still 1st level's
    assert (await world.tickets.get(TENANT, ticket.id)).support_group == "1st_level"
    clock.advance(1)
    assert await scanner.scan_once() == 1
    assert await scanner.scan_once() == 0  # once
    clock.advance(3600)
    assert await scanner.scan_once() == 0
    assert (await world.tickets.get(TENANT, ticket.id)).support_group == "2nd_level"  # unclassified: 2nd level
    (row,) = await _routed_rows(world.db, ticket.id)
    assert (row["actor"], row["old_value"], row["new_value"], row["note"]) == (
        "system", "1st_level", "2nd_level", RULE_REASON
    )  # fmt: skip
    assert row["at"] == answered + LIMIT and await _due(world.db, ticket.id) is None
    await world.deliver()
    assert len(world.smtp.to(SECOND_LEVEL_MAIL)) == 1  # the work order went out with it


async def test_the_rule_follows_the_category_and_leaves_solved_and_forwarded_tickets_alone(world: World) -> None:
    by_category = await world.phone_ticket(1)
    await world.tickets.classify(TENANT, by_category.id, category_id=await world.category_id("pacs/viewer"),
                                 impact=3, urgency=3, actor="agent:3")  # fmt: skip
    first_level_category = await world.phone_ticket(2)
    await world.tickets.classify(TENANT, first_level_category.id, impact=4, urgency=4, actor="agent:3",
                                 category_id=await world.category_id("kis/login"))  # fmt: skip
    solved = await world.phone_ticket(3)
    async with world.db.engine.begin() as conn:
        await conn.execute(update(tickets).where(tickets.c.id == solved.id).values(status="resolved"))
    forwarded = await world.phone_ticket(4)
    async with world.db.engine.begin() as conn:
        await route(conn, TENANT, forwarded.id, group="partner:dedalus", actor="agent:3", reason="KIS")
    web = await world.tickets.create(TENANT, channel="web", subject="Passwort", requester=Requester(name="Gast"),
                                     actor="web")  # fmt: skip
    assert await _due(world.db, web.id) is None  # the rule is for calls

    scanner = FirstLevelScanner(world.db, clock=Clock(T0 + LIMIT + timedelta(minutes=5)))
    assert await scanner.scan_once() == 2
    groups = {t.id: (await world.tickets.get(TENANT, t.id)).support_group for t in (by_category, first_level_category)}
    assert groups == {by_category.id: "3rd_level", first_level_category.id: "2nd_level"}
    assert (await world.tickets.get(TENANT, solved.id)).support_group == "1st_level"
    assert await _due(world.db, solved.id) is None  # solved in time: out of the scan's index for good
    assert [r["note"] for r in await _routed_rows(world.db, forwarded.id)] == ["KIS"]


async def test_two_instances_scanning_at_once_route_each_ticket_once(world: World) -> None:
    created = [await world.phone_ticket(n) for n in range(1, 7)]
    clock = Clock(T0 + LIMIT + timedelta(minutes=1))
    async with Database(world.url) as second:  # another service instance: its own engine and pool
        scanners = [FirstLevelScanner(world.db, clock=clock), FirstLevelScanner(second, clock=clock)]
        results = await asyncio.gather(*(s.scan_once() for s in scanners))
    assert sum(results) == len(created)
    for ticket in created:
        assert len(await _routed_rows(world.db, ticket.id)) == 1
    async with world.db.engine.connect() as conn:
        orders = (await conn.execute(select(func.count()).where(outbox.c.dedupe_key.like("workorder:%")))).scalar_one()
    assert orders == len(created)  # one work order per ticket (2nd level: mail only)


async def test_the_scanner_runs_as_an_owned_task(world: World) -> None:
    ticket = await world.phone_ticket(1)
    scanner = FirstLevelScanner(world.db, interval_s=0.01, clock=Clock(T0 + LIMIT * 2))
    await scanner.start()
    try:
        async with asyncio.timeout(5):
            while scanner.routed < 1:  # noqa: ASYNC110 (the scanner's own task writes the routing)
                await asyncio.sleep(0.01)
    finally:
        await scanner.close()
    assert (await world.tickets.get(TENANT, ticket.id)).support_group == "2nd_level"
    assert scanner.health() == {"routed": 1, "last_error": None}


async def test_the_limit_is_a_setting(db: Database) -> None:
    service = TicketService(db, now=Clock(T0), first_level_limit_s=120)
    call = CallRecord(call_id="c@q", linkedid="l1", uniqueid="u1", queue="q", tenant=TENANT,
                      entered_at=T0.timestamp(), answered_at=T0.timestamp() + 5)  # fmt: skip
    ticket, _ = await service.open_for_call(call)
    assert await _due(db, ticket.id) == T0 + timedelta(seconds=125)  # 2 minutes after the answer


async def test_the_due_scan_uses_its_partial_index(sqlite_url: str) -> None:
    await migrate(sqlite_url)
    async with Database(sqlite_url) as db, db.engine.connect() as conn:
        plan = (
            await conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT id FROM tickets WHERE first_level_due_at IS NOT NULL "
                    "AND first_level_due_at <= '2026-03-02 08:10:00' ORDER BY first_level_due_at, id LIMIT 100"
                )
            )
        ).all()
    assert "ix_tickets_first_level_due_at" in " ".join(str(row) for row in plan)
