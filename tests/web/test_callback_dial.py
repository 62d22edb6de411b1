"""The console's callback button against the simulated PBX: an abandoned known caller is listed, one click
dials exactly once from the agent's own phone, a second click is refused, and the entry is done."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.support.helpers import eventually
from tests.support.webapp import PASSWORD, TENANT_A, seed, web_settings
from uhd_telephony.app.server import Server
from uhd_telephony.simulator import AmiSimulator, default_config

HOTLINE = "+49231990001"


async def test_one_click_one_originate_and_the_entry_is_done(db_url: str) -> None:
    await seed(db_url)
    async with AmiSimulator(default_config(2, max_wait_s=120), speed=0) as sim:
        server = Server(web_settings(db_url, ami_port=sim.port, http_port=0, tenant_numbers={HOTLINE: TENANT_A}))
        await server.start()
        try:
            assert server.calls.client is not None
            await server.calls.client.wait_connected(5)
            base = f"http://127.0.0.1:{server.port}"
            async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as anna:
                login = await anna.post("/api/login", json={"username": "anna", "password": PASSWORD})
                csrf = (await login.json())["account"]["csrf_token"]
                for agent in ("PJSIP/101", "PJSIP/102"):
                    sim.pause_member(agent, reason="Besprechung")
                sim.place_call("0231 98 60 572", "MUELLER J", dialled=HOTLINE, patience_s=20)
                await sim.advance(21)  # nobody free: Dr. Müller gives up after 20 s

                listed: list[dict] = []

                async def poll() -> bool:
                    listed[:] = (await (await anna.get(f"/api/tenants/{TENANT_A}/callbacks")).json())["callbacks"]
                    return bool(listed)

                async with asyncio.timeout(10):
                    while not await poll():  # noqa: ASYNC110  (the entry is written by another task's transaction)
                        await asyncio.sleep(0.05)
                (entry,) = listed
                assert entry["caller_number"] == "0231 98 60 572" and entry["user_id"] is not None
                sim.unpause_member("PJSIP/101")
                url = f"/api/tenants/{TENANT_A}/callbacks/{entry['id']}/dial"
                headers = {"X-CSRF-Token": csrf}
                first = asyncio.create_task(anna.post(url, json={}, headers=headers))
                # the first click has claimed the entry once its Originate rang the agent leg
                await eventually(lambda: len(sim.pbx.channels) > 0, 5)
                second = await anna.post(url, json={}, headers=headers)  # the double click
                assert second.status == 409 and (await second.json())["error_id"] == "conflict"
                await sim.advance(5)  # Anna's phone rings and she picks up
                response = await first
                assert response.status == 200, await response.text()
                assert (await response.json())["callback"]["status"] == "done"
                remaining = (await (await anna.get(f"/api/tenants/{TENANT_A}/callbacks")).json())["callbacks"]
                assert remaining == []
            originates = sim.capture_bytes().count(b"Event: OriginateResponse\r\n")
            assert originates == 1
        finally:
            await server.close()
