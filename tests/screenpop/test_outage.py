"""PostgreSQL gone for ~15 s while calls are answered and abandoned against the simulated PBX: afterwards every
answered conversation has exactly one ticket, every abandoned known caller exactly one callback entry, and the
agents still talking when the database came back got their pop, once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.support.helpers import eventually
from tests.support.proxy import TcpProxy
from tests.support.webapp import PASSWORD, TENANT_A, seed, web_settings
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.app.server import Server
from uhd_telephony.screenpop.catchup import AFTER_CALL_NOTE
from uhd_telephony.simulator import AmiSimulator, default_config
from uhd_telephony.store.db import Database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # ~15 s without PostgreSQL

HOTLINE = "+49231990001"
AGENTS = {"anna": "PJSIP/101", "ben": "PJSIP/102", "dora": "PJSIP/103"}
# numbers of examples/users.example.csv (directory users of tenant A) and numbers nobody knows
KNOWN = ["0231 98 60 572", "+49 231 986-1140", "0049 231 9861000"]
UNKNOWN = ["+4930111222", "+4930333444"]
OUTAGE_S = 15.0


class Console:
    """An agent's browser: logged in, its WebSocket read into ``messages`` by a task of its own."""

    def __init__(self, base: str) -> None:
        self.session = aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.messages: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def open(self, username: str) -> None:
        login = await self.session.post("/api/login", json={"username": username, "password": PASSWORD})
        assert login.status == 200, await login.text()
        ws = await self.session.ws_connect("/ws/console")
        self._task = asyncio.create_task(self._read(ws))
        await eventually(lambda: any(m["type"] == "hello" for m in self.messages), 5)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))

    def pops(self) -> list[str]:
        return [m["call"]["call_id"] for m in self.messages if m["type"] == "pop"]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.session.close()


async def rows(url: str, sql: str) -> list[Any]:
    async with Database(url) as db, db.engine.connect() as conn:
        return list((await conn.execute(text(sql))).all())


async def test_tickets_callbacks_and_pops_survive_fifteen_seconds_without_postgresql(
    pg_url: str, pg_proxy: TcpProxy
) -> None:
    await seed(pg_url)  # anna (PJSIP/101) and ben (PJSIP/102) of tenant A, the directory, the categories
    async with Database(pg_url) as db:
        await AccountService(db).create(
            "dora", PASSWORD, display_name="Dora Lang", tenants=[TENANT_A], interface=AGENTS["dora"]
        )
    via_proxy = make_url(pg_url).set(port=pg_proxy.port).render_as_string(hide_password=False)
    async with AmiSimulator(default_config(len(AGENTS), max_wait_s=120), speed=0) as sim:
        settings = web_settings(
            via_proxy, ami_port=sim.port, http_port=0, tenant_numbers={HOTLINE: TENANT_A},
            ami_ping_interval_s=0.5, ami_ping_timeout_s=0.5, ami_reconnect_min_s=0.05, ami_reconnect_max_s=0.2,
            finalize_grace_s=0.5, store_flush_interval_s=0.05, store_retry_max_s=0.5,
            # no periodic scan during the test: only the catch-up's wake-up and retries can find the lost work
            catchup_scan_s=3600, catchup_retry_s=0.5,
        )  # fmt: skip
        server = Server(settings)
        await server.start()
        consoles = {name: Console(f"http://127.0.0.1:{server.port}") for name in AGENTS}
        try:
            assert server.calls.client is not None and server.followup is not None
            await server.calls.client.wait_connected(5)
            for name, console in consoles.items():
                await console.open(name)

            before = sim.place_call("+4930999000", "Vor dem Ausfall", dialled=HOTLINE, talk_s=4)
            await sim.advance(10)
            await eventually(lambda: sum(len(c.pops()) for c in consoles.values()) == 1, 10)

            # --- PostgreSQL is gone ---------------------------------------------------------------------------
            await pg_proxy.cut()
            cut_at = time.monotonic()
            talking = [
                sim.place_call(f"+4930555{i:04d}", f"Spricht Lange {i}", dialled=HOTLINE, talk_s=3600) for i in range(2)
            ]
            await sim.advance(10)  # two agents answer and stay on the line past the outage
            short = []
            for i in range(4):  # the third agent takes short calls that end while the database is away
                short.append(sim.place_call(f"+4930666{i:04d}", f"Kurz {i}", dialled=HOTLINE, talk_s=4))
                await sim.advance(10)
            for interface in AGENTS.values():
                sim.pause_member(interface, reason="Besprechung")
            abandoned_known = [sim.place_call(n, "Bekannt", dialled=HOTLINE, patience_s=8) for n in KNOWN]
            abandoned_unknown = [sim.place_call(n, "Unbekannt", dialled=HOTLINE, patience_s=8) for n in UNKNOWN]
            await sim.advance(10)  # nobody free: they give up after 8 s
            for interface in AGENTS.values():
                sim.unpause_member(interface)
            await eventually(lambda: server.calls.tracker.stats.finished == 1 + 4 + 5, 10)
            await asyncio.sleep(max(0.0, cut_at + OUTAGE_S - time.monotonic()))
            # the live path could do none of it: no pop yet for the calls answered in the outage
            assert sum(len(c.pops()) for c in consoles.values()) == 1
            composer = server.composer
            assert composer is not None and composer.stats.failed >= 4 + 5 and composer.stats.retries > 0
            await pg_proxy.restore()
            # --- back ------------------------------------------------------------------------------------------

            # the calls still up get their pop, the catch-up opens the other tickets and queues the callbacks
            talking_ids = {f"{c.uniqueid}@hotline" for c in talking}
            await eventually(lambda: talking_ids <= {p for c in consoles.values() for p in c.pops()}, 15)
            followup = server.followup
            await eventually(lambda: followup.tickets_opened == 4 and followup.callbacks_queued == 3, 15)
            await sim.settle()  # the long calls end
            await eventually(lambda: server.calls.tracker.stats.finished == 1 + 4 + 5 + 2, 10)
            await composer.drain()
            await asyncio.sleep(0.3)  # a pop sent twice would be on its way now
        finally:
            for console in consoles.values():
                await console.close()
            await server.close()

    all_pops = [p for c in consoles.values() for p in c.pops()]
    assert sorted(all_pops) == sorted({f"{before.uniqueid}@hotline", *talking_ids})  # each exactly once
    answered = await rows(pg_url, "SELECT linkedid FROM calls WHERE answered_at IS NOT NULL")
    assert len(answered) == 1 + 2 + 4
    tickets = await rows(pg_url, "SELECT call_linkedid, count(*) FROM tickets GROUP BY call_linkedid")
    assert sorted(tickets) == sorted((linkedid, 1) for (linkedid,) in answered)
    # the tickets opened after the call say so; those of the calls still up were opened live, with their pop
    noted = await rows(
        pg_url,
        "SELECT t.call_linkedid FROM tickets t JOIN ticket_history h ON h.ticket_id = t.id "
        f"WHERE h.action = 'comment' AND h.note = '{AFTER_CALL_NOTE}'",
    )
    assert sorted(linkedid for (linkedid,) in noted) == sorted(c.linkedid for c in short)
    agents = await rows(pg_url, "SELECT t.call_linkedid, t.agent_id FROM tickets t")
    assert all(agent_id is not None for _, agent_id in agents)  # for the agent who took the call
    entries = await rows(pg_url, "SELECT call_id, count(*), min(user_id) FROM callbacks GROUP BY call_id")
    assert sorted(call_id for call_id, _, _ in entries) == sorted(f"{c.uniqueid}@hotline" for c in abandoned_known)
    assert all(count == 1 and user_id is not None for _, count, user_id in entries)
    assert {f"{c.uniqueid}@hotline" for c in abandoned_unknown}.isdisjoint(call_id for call_id, _, _ in entries)
