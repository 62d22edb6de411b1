"""Several scanners at once — two service instances on one real PostgreSQL, with their own engines — fire each
escalation exactly once, with exactly one set of messages; the unique key stops a second firing by itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select

from tests.outbox.sinks import Clock
from tests.sla.claims import both_waiting_on_the_claim
from tests.sla.conftest import MONDAY_9, TENANT, World, berlin
from tests.support.sla_data import sla_data
from uhd_telephony.outbox.models import outbox
from uhd_telephony.sla.escalation import SlaScanner, fire
from uhd_telephony.sla.models import escalations, sla_timers
from uhd_telephony.sla.policy import import_sla, load_sla
from uhd_telephony.sla.timers import plan
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets.history import history
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.service import TicketService
from uhd_telephony.tickets.workflow import TicketWorkflow

TICKETS = 30


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[Database]:
    await migrate(pg_url)
    async with Database(pg_url) as db:
        yield db


async def _tickets(workflow: TicketWorkflow) -> list[int]:
    created = []
    for n in range(TICKETS):
        ticket = await workflow.service.create(
            TENANT, channel="web", subject=f"Störung {n}", requester=Requester(name="X"), actor="api:test"
        )
        created.append(ticket.id)
    return created


async def _count(db: Database, stmt: object) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())  # type: ignore[call-overload]


async def test_two_instances_on_postgresql_fire_each_escalation_once(pg: Database, pg_url: str) -> None:
    await import_sla(pg, TENANT, sla_data())
    clock = Clock(MONDAY_9)
    workflow = TicketWorkflow(TicketService(pg, now=clock))
    ids = await _tickets(workflow)
    async with Database(pg_url) as other_engine:
        first, second = SlaScanner(pg, clock=clock, batch_size=7), SlaScanner(other_engine, clock=clock, batch_size=7)
        rounds: list[datetime] = [berlin(2026, 3, 2, 10, 30), berlin(2026, 3, 2, 11, 0), berlin(2026, 3, 4, 9, 0)]
        reported = 0
        for moment in rounds:
            clock.now = moment
            # each instance scans, and each also grabs every ticket directly: every claim is contested
            results = await asyncio.gather(
                first.scan_once(),
                second.scan_once(),
                *(scanner.handle(ticket_id, moment) for ticket_id in ids for scanner in (first, second)),
            )
            reported += sum(results)
            assert await first.scan_once() + await second.scan_once() == 0  # nothing left for this instant

    # per ticket: the response warning, the response breach, the resolution breach (its warning is moot by then)
    assert reported == 3 * TICKETS
    assert await _count(pg, select(func.count()).select_from(escalations)) == 3 * TICKETS
    distinct = select(func.count()).select_from(
        select(escalations.c.ticket_id, escalations.c.kind, escalations.c.target).distinct().subquery()
    )
    assert await _count(pg, distinct) == 3 * TICKETS
    escalated = select(func.count()).where(history.c.action == "escalated")
    assert await _count(pg, escalated) == 3 * TICKETS
    mails = select(func.count()).where(outbox.c.dedupe_key.like("escalation:%"))
    assert await _count(pg, mails) == 3 * TICKETS  # one contact per level: one mail per escalation


async def test_the_unique_key_refuses_a_second_firing_of_the_same_escalation(world: World) -> None:
    ticket = await world.ticket()
    now = berlin(2026, 3, 2, 11, 0)
    async with world.db.engine.connect() as conn:  # what both believed when they read the ticket
        current = await plan(conn, ticket.id)
        sla = await load_sla(conn, TENANT, with_contacts=True)
    assert current is not None and sla is not None
    breach = next(d for d in current.deadlines if d.kind == "breach" and d.target == "response")
    ids = []
    for _ in range(2):  # two transactions that both believe the response breach is theirs to fire
        async with world.db.engine.begin() as conn:
            ids.append(await fire(conn, current, breach, sla, now))
    assert ids[0] is not None and ids[1] is None
    assert await world.fired(ticket.id) == [("response", "breach")]
    assert len(await world.history(ticket.id, "escalated")) == 1
    assert len(await world.outbox()) == 1


async def test_resolving_while_another_instance_fires_leaves_nothing_open(pg: Database, pg_url: str) -> None:
    """A status change and a firing of the same ticket at the same moment take turns (no deadlock): either the
    ticket was resolved first and nothing fires, or the escalation fired first and resolving takes it back."""
    await import_sla(pg, TENANT, sla_data())
    clock = Clock(MONDAY_9)
    workflow = TicketWorkflow(TicketService(pg, now=clock))
    ids = await _tickets(workflow)
    clock.now = moment = berlin(2026, 3, 2, 11, 0)
    async with Database(pg_url) as other_engine:
        scanner = SlaScanner(other_engine, clock=clock)
        await asyncio.gather(
            *(scanner.handle(ticket_id, moment) for ticket_id in ids),
            *(
                workflow.transition(TENANT, ticket_id, "resolved", note="erledigt", actor="agent:3")
                for ticket_id in ids
            ),
        )
    async with pg.engine.connect() as conn:
        rows = (await conn.execute(select(escalations))).mappings().all()
    assert all(row["de_escalated_at"] is not None and row["reason"] == "ticket resolved" for row in rows)
    assert await SlaScanner(pg, clock=lambda: berlin(2026, 4, 1, 9, 0)).scan_once() == 0


async def test_the_instance_that_loses_the_claim_does_nothing_at_all(pg: Database, pg_url: str) -> None:
    """Two instances scan one due timer at once. The unique key alone would keep the escalation single; the
    conditional claim makes the loser give up at its UPDATE: it reads no plan and writes nothing (the timer row
    stays as the winner left it), instead of taking the row after the winner committed and storing it again."""
    await import_sla(pg, TENANT, sla_data())
    clock = Clock(MONDAY_9)
    workflow = TicketWorkflow(TicketService(pg, now=clock))
    ticket = await workflow.service.create(
        TENANT, channel="web", subject="Drucker", requester=Requester(name="X"), actor="api:test"
    )  # the response warning is due at 10:30
    moments = [berlin(2026, 3, 2, 10, 30), berlin(2026, 3, 2, 10, 30, 5)]  # two instances' clocks, 5 s apart
    async with Database(pg_url) as other_engine, Database(pg_url) as blocker:
        engines = [pg, other_engine]
        scanners = [SlaScanner(db, clock=lambda m=m: m) for db, m in zip(engines, moments, strict=True)]
        statements: list[list[str]] = [[], []]
        listeners = []
        for db, seen in zip(engines, statements, strict=True):

            def record(conn: Any, cursor: Any, statement: str, *args: Any, seen: list[str] = seen) -> None:
                seen.append(" ".join(statement.split()).upper())

            event.listen(db.engine.sync_engine, "before_cursor_execute", record)
            listeners.append((db.engine.sync_engine, record))
        try:
            async with blocker.engine.begin() as lock:
                # hold the timer row: both scans find it due and queue up behind this lock at their claim
                await lock.execute(select(sla_timers).where(sla_timers.c.ticket_id == ticket.id).with_for_update())
                scans = [asyncio.create_task(scanner.scan_once()) for scanner in scanners]
                await both_waiting_on_the_claim(blocker)
            results = await asyncio.gather(*scans)
        finally:
            for engine, record in listeners:
                event.remove(engine, "before_cursor_execute", record)

    assert sorted(results) == [0, 1]  # exactly one fired
    winner, loser = (0, 1) if results[0] == 1 else (1, 0)
    assert await _count(pg, select(func.count()).select_from(escalations)) == 1
    assert await _count(pg, select(func.count()).where(history.c.action == "escalated")) == 1
    assert await _count(pg, select(func.count()).where(outbox.c.dedupe_key.like("escalation:%"))) == 1
    # the loser: its due query and its claim, which changed no row; nothing read, nothing written after it
    claims = [s for s in statements[loser] if s.startswith("UPDATE SLA_TIMERS")]
    assert len(claims) == 1 and statements[loser][-1] == claims[0], statements[loser]
    assert not any(s.startswith(("INSERT", "DELETE")) for s in statements[loser]), statements[loser]
    # the timer row is the winner's: computed at its instant, due next at the response breach (11:00)
    async with pg.engine.connect() as conn:
        timer = (await conn.execute(select(sla_timers).where(sla_timers.c.ticket_id == ticket.id))).mappings().one()
    assert timer["computed_at"] == moments[winner]
    assert timer["next_due_at"] == berlin(2026, 3, 2, 11, 0)
