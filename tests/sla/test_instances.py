"""Several scanners at once — two service instances on one real PostgreSQL, with their own engines — fire each
escalation exactly once, with exactly one set of messages; the unique key stops a second firing by itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import func, select

from tests.outbox.sinks import Clock
from tests.sla.conftest import MONDAY_9, TENANT, World, berlin, sla_data
from uhd_telephony.outbox.models import outbox
from uhd_telephony.sla.escalation import SlaScanner, fire
from uhd_telephony.sla.models import escalations
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
        ticket = await workflow.create(
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
