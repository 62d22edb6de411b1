"""The demo's simulated agents work their tickets after the call: classified, then solved, routed or left open —
through the same ticket service as a console, saying it was a simulated agent. A person's tickets stay theirs."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.helpers import eventually
from tests.support.webapp import web_settings
from uhd_telephony.app.demo import Demo
from uhd_telephony.app.demo.desk import LABEL
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.tickets.history import history
from uhd_telephony.tickets.view import tickets

NORD = "klinikum-nord"
SIMULATED, PERSON = "PJSIP/101", "PJSIP/150"


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    out = io.StringIO()
    async with Demo(web_settings(url), rate=0, speed=0, http_port=0, mail_dir=tmp_path / "mail", out=out) as running:
        yield running


async def answered_by(demo: Demo, interface: str, number: str) -> str:
    """A call of Klinikum Nord that only ``interface`` can take, answered, talked and over; its Linkedid."""
    sim = demo.sim
    assert sim is not None
    for queue in sim.pbx.queues.values():
        for member in queue.members:
            sim.pause_member(member, member != interface, reason="Pause")
    hotline = next(h for h in sim.pbx.config.hotlines if h.tenant == NORD)
    placed = sim.place_call(number, "Klaus Weber", dialled=hotline.number, talk_s=30)
    await sim.advance(10)
    if interface == PERSON:
        sim.answer_phone(interface)
        await sim.advance(30)
        sim.hangup_phone(interface)
    await sim.advance(60)
    assert not sim.pbx.active()
    return placed.linkedid


async def test_a_simulated_agents_ticket_is_classified_and_worked(demo: Demo) -> None:
    linkedid = await answered_by(demo, SIMULATED, "+492311234567")
    assert demo.desk is not None and demo.server is not None and demo.server.calls.db is not None
    desk = demo.desk
    await eventually(lambda: desk.worked == 1, within=15)
    async with demo.server.calls.db.engine.connect() as conn:
        ticket = (await conn.execute(select(tickets).where(tickets.c.call_linkedid == linkedid))).mappings().one()
        rows = (await conn.execute(select(history).where(history.c.ticket_id == ticket["id"]))).mappings().all()
    assert ticket["category_id"] is not None and ticket["priority"] is not None and ticket["subject"]
    assert ticket["status"] in ("resolved", "in_progress") and LABEL in ticket["description"]
    assert {r["actor"] for r in rows if r["action"] != "created"} == {f"agent:{ticket['agent_id']}"}
    out = demo.out.getvalue()  # type: ignore[union-attr]
    line = next(x for x in out.splitlines() if " ticket " in x)
    assert NORD in line and "(simulated agent Anna Becker)" in line
    assert any(done in line for done in ("solved on the phone", "routed to", "left open at 1st level"))


async def test_a_persons_ticket_is_left_to_the_person(demo: Demo) -> None:
    assert demo.sim is not None and demo.server is not None and demo.server.calls.db is not None
    db = demo.server.calls.db
    demo.sim.unpause_member(PERSON)
    linkedid = await answered_by(demo, PERSON, "+492311234568")
    async with asyncio.timeout(15):
        while await CallRepository(db).count() < 1:  # noqa: ASYNC110 - the call ends for the service
            await asyncio.sleep(0.1)
    async with db.engine.connect() as conn:
        ticket = (await conn.execute(select(tickets).where(tickets.c.call_linkedid == linkedid))).mappings().one()
    assert ticket["status"] == "new" and ticket["category_id"] is None
    assert demo.desk is not None and demo.desk.worked == 0


def test_a_transferred_conversation_is_worked_once_where_it_ends() -> None:
    from types import SimpleNamespace

    from uhd_telephony.app.demo.desk import SimulatedDesk
    from uhd_telephony.calls.domain import CallEnded
    from uhd_telephony.calls.records import CallRecord, Outcome

    no_db: Any = SimpleNamespace(db=None)  # the bus side only: nothing here touches a database
    desk = SimulatedDesk(no_db, no_db, no_db, people=[PERSON])

    def stay(n: int, linkedid: str, queue: str, outcome: Outcome, agent: str | None) -> CallEnded:
        record = CallRecord(
            call_id=f"{n}@{queue}", linkedid=linkedid, uniqueid=str(n), queue=queue, tenant=NORD, entered_at=0.0,
            outcome=outcome, answered_at=5.0 if agent else None, agent_interface=agent,
        )  # fmt: skip
        return CallEnded(record, 60.0)

    worked = []

    def drain() -> list[str]:
        while not desk._queue.empty():
            worked.append(desk._queue.get_nowait().call_id)
        return worked

    # answered in the hotline, transferred, answered in 2nd level: the 2nd-level stay works it, once
    desk(stay(1, "A", "hotline", Outcome.TRANSFERRED, SIMULATED))
    assert drain() == []
    desk(stay(2, "A", "2nd-level", Outcome.ANSWERED, "PJSIP/201"))
    assert drain() == ["2@2nd-level"]
    # transferred, and the caller hangs up waiting in 2nd level: the agent who transferred works it
    desk(stay(3, "B", "hotline", Outcome.TRANSFERRED, SIMULATED))
    desk(stay(4, "B", "2nd-level", Outcome.ABANDONED, None))
    assert drain() == ["2@2nd-level", "3@hotline"]
    # never answered at all: nothing to work; a person's transfer stays the person's
    desk(stay(5, "C", "hotline", Outcome.ABANDONED, None))
    desk(stay(6, "D", "hotline", Outcome.TRANSFERRED, PERSON))
    desk(stay(7, "D", "2nd-level", Outcome.TIMEOUT, None))
    assert drain() == ["2@2nd-level", "3@hotline"] and not desk._transferred
