"""The pop shows the SLA state of the caller's open tickets (``sla.view``): due times, time left, the state;
resolved tickets come without one. On SQLite and PostgreSQL, through the console's WebSocket."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from tests.support.sla_data import sla_data
from tests.support.webapp import TENANT_A, Seeded, app_of, login
from tests.web.conftest import client, seeded
from uhd_telephony.calls.domain import CallAnswered
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.screenpop.compose import ScreenPop
from uhd_telephony.sla.policy import import_sla
from uhd_telephony.tickets.view import tickets
from uhd_telephony.tickets.workflow import TicketWorkflow
from uhd_telephony.web import keys

__all__ = ["client", "seeded"]  # the seeded web app's fixtures, on SQLite and PostgreSQL

T0 = 1_800_000_000.0


def answered(linkedid: str) -> CallRecord:
    return CallRecord(
        call_id=f"{linkedid}@hotline", linkedid=linkedid, uniqueid=linkedid, queue="hotline", tenant=TENANT_A,
        entered_at=T0, caller_number="+492319860572", caller_name="MUELLER J", answered_at=T0 + 12, wait_s=12.0,
        agent="Anna Becker", agent_interface="PJSIP/101",
    )  # fmt: skip


async def pop_of(ws: Any) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            msg = await ws.receive()
            assert msg.type == WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            if data["type"] == "pop":
                return dict(data)


async def test_the_pop_carries_the_sla_state_of_the_callers_open_tickets(client: TestClient, seeded: Seeded) -> None:
    app = app_of(client)
    db = app[keys.DB]
    await import_sla(db, TENANT_A, sla_data(unclassified_priority=1))  # response 15 min, resolution 4 h, 24/7
    await login(client, "anna")
    ws = await client.ws_connect("/ws/console")
    pops = ScreenPop(
        db, accounts=app[keys.ACCOUNTS], tickets=app[keys.TICKETS], callbacks=app[keys.CALLBACKS],
        directory=app[keys.DIRECTORY], fanout=app[keys.FANOUT],
    )  # fmt: skip
    try:
        pops(CallAnswered(answered("1800000000.1"), T0 + 12))
        first = (await pop_of(ws))["ticket"]
        pops(CallAnswered(answered("1800000000.2"), T0 + 20))
        second = (await pop_of(ws))["ticket"]
        await TicketWorkflow(app[keys.TICKETS]).transition(
            TENANT_A, second["id"], "resolved", note="erledigt", actor="agent:1"
        )
        async with db.engine.begin() as conn:  # the first one: opened 3 1/2 hours ago, answered at once
            created = datetime.now(UTC) - timedelta(hours=3.5)
            await conn.execute(
                update(tickets).where(tickets.c.id == first["id"]).values(created_at=created, first_response_at=created)
            )

        pops(CallAnswered(answered("1800000000.3"), T0 + 30))
        pop = await pop_of(ws)
        recent = {t["id"]: t for t in pop["recent_tickets"]}
        assert set(recent) == {first["id"], second["id"]}
        assert recent[second["id"]]["sla"] is None  # resolved: nothing to watch
        sla = recent[first["id"]]["sla"]
        assert sla["state"] == "warning" and sla["paused"] is False  # 3 1/2 of 4 hours used: past the 75 %
        assert (sla["response_state"], sla["response_due_at"], sla["response_remaining_s"]) == ("met", None, None)
        assert sla["resolution_state"] == "warning" and abs(sla["resolution_remaining_s"] - 1800) < 30
        due = datetime.fromisoformat(sla["resolution_due_at"])
        assert abs(due - (created + timedelta(hours=4))) < timedelta(seconds=1)
    finally:
        await pops.drain()
        await pops.close()
        await ws.close()
