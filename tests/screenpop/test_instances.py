"""Two instances on one PBX, one database and one Redis (for availability): one holds the tracker lease and follows
the calls, the other serves consoles and stands by; the agent's console gets each pop once."""

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


async def test_two_instances_one_tracks_the_other_stands_by_and_takes_over(pg_url: str, redis_prefix: str) -> None:
    """Issue 17: exactly one process follows the PBX (the lease in PostgreSQL); the other serves consoles and gets
    the pops through Redis; when the tracker stops, the standby takes over within seconds and the next call pops
    once on the same console."""
    await seed(pg_url)  # anna is PJSIP/101, ben PJSIP/102
    async with AmiSimulator(default_config(2, max_wait_s=120), speed=0) as sim:
        settings = web_settings(
            pg_url, ami_port=sim.port, http_port=0, tenant_numbers={HOTLINE: TENANT_A},
            redis_url=REDIS_URL, redis_prefix=redis_prefix, finalize_grace_s=0.5, lease_retry_s=0.2,
        )  # fmt: skip
        active, standby = Server(settings), Server(settings)  # the same Redis prefix, database and PBX
        await active.start()  # first: it migrates the database and takes the lease
        await standby.start()
        messages: list[dict[str, Any]] = []
        closed = False
        try:
            assert active.tracking.is_set() and not standby.tracking.is_set()
            assert active._health()["tracker"]["state"] == "active"
            assert standby._health()["tracker"]["state"] == "standby"
            assert active.calls.client is not None and standby.calls.client is None  # one AMI session only
            async with aiohttp.ClientSession() as scraper:  # Prometheus may scrape both: each call counts once
                async with scraper.get(f"http://127.0.0.1:{standby.port}/metrics") as r:
                    assert [line for line in (await r.text()).splitlines() if not line.startswith("#")] == [
                        "uhd_tracker_active 0"
                    ]
                async with scraper.get(f"http://127.0.0.1:{active.port}/metrics") as r:
                    text_ = await r.text()
                    assert "uhd_tracker_active 1" in text_ and "uhd_ami_connected" in text_
            await active.calls.client.wait_connected(5)
            await eventually(lambda: len(sim.sessions) == 1, 5)
            async with aiohttp.ClientSession(
                f"http://127.0.0.1:{standby.port}", cookie_jar=aiohttp.CookieJar(unsafe=True)
            ) as anna:  # Anna's console is on the standby's web part
                login = await anna.post("/api/login", json={"username": "anna", "password": PASSWORD})
                assert login.status == 200
                ws = await anna.ws_connect("/ws/console")

                async def read() -> None:
                    async for msg in ws:
                        messages.append(json.loads(msg.data))

                reader = asyncio.create_task(read())
                try:
                    await eventually(lambda: [m["type"] for m in messages] == ["hello"], 5)
                    sim.pause_member("PJSIP/102")  # Anna answers every call
                    first = sim.place_call("0231 98 60 572", "MUELLER J", dialled=HOTLINE, talk_s=20)
                    await sim.advance(30)
                    await eventually(lambda: active.calls.tracker.stats.finished == 1, 10)
                    assert active.composer is not None
                    await active.composer.drain()
                    await eventually(lambda: len([m for m in messages if m["type"] == "call_ended"]) == 1, 5)

                    await active.close()  # the tracker goes away (the kill -9 case: tests/app/test_failover.py)
                    closed = True
                    async with asyncio.timeout(5):
                        await standby.tracking.wait()
                    assert standby.calls.client is not None
                    await standby.calls.client.wait_connected(5)
                    second = sim.place_call("+4930123456", "Unbekannt", dialled=HOTLINE, talk_s=20)
                    await sim.advance(30)
                    await eventually(lambda: standby.calls.tracker.stats.finished == 1, 10)
                    assert standby.composer is not None
                    await standby.composer.drain()
                    await eventually(lambda: len([m for m in messages if m["type"] == "call_ended"]) == 2, 5)
                    await asyncio.sleep(0.3)  # a second copy would be here by now
                finally:
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
                    await ws.close()
        finally:
            await standby.close()
            if not closed:
                await active.close()

    pops = [m["call"]["call_id"] for m in messages if m["type"] == "pop"]
    assert pops == [f"{first.uniqueid}@hotline", f"{second.uniqueid}@hotline"]  # each once, through Redis
    ended = [m["call"]["call_id"] for m in messages if m["type"] == "call_ended"]
    assert ended == pops
    assert active.composer is not None and standby.composer is not None
    assert (active.composer.stats.pops, standby.composer.stats.pops) == (1, 1)
