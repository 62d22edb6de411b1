"""Two tracking instances on one PBX, one database and one Redis (for availability): both follow every call and
compose every pop, and the agent's console gets each pop once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from tests.support.helpers import REDIS_URL, eventually
from tests.support.webapp import PASSWORD, TENANT_A, seed, web_settings
from uhd_telephony.app.server import Server
from uhd_telephony.simulator import AmiSimulator, default_config

pytestmark = pytest.mark.postgres

HOTLINE = "+49231990001"


async def test_two_instances_sharing_redis_pop_each_answer_once(pg_url: str, redis_prefix: str) -> None:
    await seed(pg_url)  # anna is PJSIP/101, ben PJSIP/102
    async with AmiSimulator(default_config(2, max_wait_s=120), speed=0) as sim:
        settings = web_settings(
            pg_url, ami_port=sim.port, http_port=0, tenant_numbers={HOTLINE: TENANT_A},
            redis_url=REDIS_URL, redis_prefix=redis_prefix, finalize_grace_s=0.5,
        )  # fmt: skip
        servers = [Server(settings), Server(settings)]  # the same Redis prefix, database and PBX
        for server in servers:
            await server.start()  # one after the other: the first migrates the database
        messages: list[dict[str, Any]] = []
        try:
            for server in servers:
                assert server.calls.client is not None
                await server.calls.client.wait_connected(5)
            await eventually(lambda: len(sim.sessions) == 2, 5)
            async with aiohttp.ClientSession(
                f"http://127.0.0.1:{servers[0].port}", cookie_jar=aiohttp.CookieJar(unsafe=True)
            ) as anna:
                login = await anna.post("/api/login", json={"username": "anna", "password": PASSWORD})
                assert login.status == 200
                ws = await anna.ws_connect("/ws/console")

                async def read() -> None:
                    async for msg in ws:
                        messages.append(json.loads(msg.data))

                reader = asyncio.create_task(read())
                try:
                    await eventually(lambda: [m["type"] for m in messages] == ["hello"], 5)
                    sim.pause_member("PJSIP/102")  # Anna answers both calls
                    first = sim.place_call("0231 98 60 572", "MUELLER J", dialled=HOTLINE, talk_s=20)
                    await sim.advance(30)
                    second = sim.place_call("+4930123456", "Unbekannt", dialled=HOTLINE, talk_s=20)
                    await sim.advance(30)
                    for server in servers:
                        await eventually(lambda s=server: s.calls.tracker.stats.finished == 2, 10)  # type: ignore[misc]
                        assert server.composer is not None
                        await server.composer.drain()
                    await eventually(lambda: len([m for m in messages if m["type"] == "call_ended"]) == 2, 5)
                    await asyncio.sleep(0.3)  # a second copy would be here by now
                finally:
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
                    await ws.close()
        finally:
            for server in reversed(servers):
                await server.close()

    pops = [m["call"]["call_id"] for m in messages if m["type"] == "pop"]
    assert sorted(pops) == sorted([f"{first.uniqueid}@hotline", f"{second.uniqueid}@hotline"])  # each once
    ended = [m["call"]["call_id"] for m in messages if m["type"] == "call_ended"]
    assert sorted(ended) == sorted(pops)
    # both instances composed both pops; the second one's copy of each was dropped
    assert sum(s.composer.stats.pops for s in servers if s.composer) == 2
    assert sum(s.composer.stats.duplicate_pops for s in servers if s.composer) == 2
