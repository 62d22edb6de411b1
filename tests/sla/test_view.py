"""The SLA state people see on a ticket (``sla.view``), with an injected clock, on SQLite and PostgreSQL: due
instants from the business calendar, the time left, the clock standing still while the ticket waits on the
caller, ok → warning → breached, met; a tenant without an SLA says so."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.sla.conftest import AGENT, OTHER, TENANT, World, berlin
from uhd_telephony.sla.view import states


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def state(world: World, ticket_id: int, moment: datetime, tenant: str = TENANT) -> dict[str, Any]:
    view = await world.tickets.get(tenant, ticket_id)
    async with world.db.engine.connect() as conn:
        found = await states(conn, tenant, [view], moment)
    return found[ticket_id]


async def test_due_times_time_left_and_the_clock_paused_while_waiting(world: World) -> None:
    ticket = await world.ticket()  # Monday 09:00, unclassified: priority 3 (response 2 h, resolution 8 h, Mo-Fr 8-17)
    now = await state(world, ticket.id, berlin(2026, 3, 2, 9, 30))
    assert now == {
        "state": "ok",
        "paused": False,
        "response_due_at": utc(berlin(2026, 3, 2, 11, 0)),
        "response_remaining_s": 5400.0,
        "response_state": "ok",
        "resolution_due_at": utc(berlin(2026, 3, 2, 17, 0)),
        "resolution_remaining_s": 27000.0,
        "resolution_state": "ok",
    }
    warned = await state(world, ticket.id, berlin(2026, 3, 2, 10, 45))  # 1 h 45 of 2 h: past the 75 %
    assert (warned["state"], warned["response_state"], warned["response_remaining_s"]) == ("warning", "warning", 900)

    world.at(berlin(2026, 3, 2, 10, 45))
    await world.move(ticket.id, "in_progress")
    await world.move(ticket.id, "waiting", "Rückfrage an die Station")
    for later in (berlin(2026, 3, 2, 13, 0), berlin(2026, 3, 3, 9, 0)):  # the clock stands still, a day later too
        paused = await state(world, ticket.id, later)
        assert paused["paused"] is True and paused["state"] == "warning"
        assert (paused["response_due_at"], paused["response_remaining_s"]) == (None, 900.0)
        assert (paused["resolution_due_at"], paused["resolution_remaining_s"]) == (None, 22500.0)

    world.at(berlin(2026, 3, 2, 13, 0))
    await world.move(ticket.id, "in_progress")  # by the API: no response; the clock runs again from 13:00
    running = await state(world, ticket.id, berlin(2026, 3, 2, 13, 5))
    assert running["paused"] is False
    assert running["response_due_at"] == utc(berlin(2026, 3, 2, 13, 15))
    assert running["response_remaining_s"] == 600.0
    # 6 h 15 left at 13:00: 4 h until 17:00 on Monday, 2 h 15 from 08:00 on Tuesday
    assert running["resolution_due_at"] == utc(berlin(2026, 3, 3, 10, 15))

    late = await state(world, ticket.id, berlin(2026, 3, 2, 13, 20))  # no scanner ran: the clock alone says so
    assert (late["state"], late["response_state"], late["response_remaining_s"]) == ("breached", "breached", -300)
    assert late["resolution_state"] == "ok"

    world.at(berlin(2026, 3, 2, 13, 30))
    await world.workflow.comment(TENANT, ticket.id, text="Wir kümmern uns.", public=True, actor=AGENT)
    responded = await state(world, ticket.id, berlin(2026, 3, 2, 13, 40))
    # answered late: the response target stays missed, nothing is due for it any more
    assert (responded["response_state"], responded["response_due_at"], responded["response_remaining_s"]) == (
        "breached", None, None,
    )  # fmt: skip
    assert responded["state"] == "breached"

    world.at(berlin(2026, 3, 2, 14, 0))
    await world.move(ticket.id, "resolved", "Toner getauscht")
    done = await state(world, ticket.id, berlin(2026, 3, 9, 9, 0))
    assert (done["resolution_state"], done["resolution_due_at"], done["paused"]) == ("met", None, False)


async def test_met_in_time_and_no_sla(world: World) -> None:
    ticket = await world.ticket()
    world.at(berlin(2026, 3, 2, 9, 10))
    await world.workflow.comment(TENANT, ticket.id, text="Wir kümmern uns.", public=True, actor=AGENT)
    world.at(berlin(2026, 3, 2, 9, 20))
    await world.move(ticket.id, "resolved", "erledigt")
    assert (await state(world, ticket.id, berlin(2026, 3, 4, 12, 0)))["state"] == "met"
    # the other tenant has no SLA
    other = await world.ticket(tenant=OTHER)
    found = await state(world, other.id, berlin(2026, 3, 2, 12, 0), tenant=OTHER)
    assert found["state"] == "none" and found["response_due_at"] is None and found["paused"] is False
