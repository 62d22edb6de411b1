"""The endpoint in the real service: it listens in the processes that serve the web (roles all and web, two web
processes at once included: either takes a mail, the database makes it one ticket), not in a tracker; its counts are
in /healthz; a shutdown lets a mail being written finish."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.mailin.sessions import NORD, SUED, deliver, mail, one
from tests.support.webapp import PASSWORD, TENANT_A, Seeded, web_settings
from uhd_telephony.app.server import Server
from uhd_telephony.simulator import AmiSimulator, default_config


def _settings(world: Seeded, **extra: Any) -> Any:
    return web_settings(world.url, **{"http_port": 0, "mail_in_listen": "127.0.0.1:0", **extra})


async def test_web_processes_take_mail_and_a_tracker_does_not(world: Seeded) -> None:
    async with AmiSimulator(default_config(2), speed=0) as sim:
        first, second = (Server(_settings(world, ami_port=sim.port), role="web") for _ in range(2))
        tracker = Server(_settings(world, ami_port=sim.port), role="tracker")
        for server in (first, second, tracker):
            await server.start()
        try:
            assert tracker.part("mail_in") is None and not tracker.listening
            ports = [first.part("mail_in").port, second.part("mail_in").port]
            assert ports[0] != ports[1] and all(ports)
            message = mail()
            # the mail server delivers to one replica, gets no answer, and delivers again to the other
            answers = await asyncio.gather(one(ports[0], message), one(ports[1], message))
            assert {a.code for a in answers} == {250}
            numbers = {next(w for w in a.text.split() if w.startswith("UHD-")) for a in answers}
            assert len(numbers) == 1
            jar = aiohttp.CookieJar(unsafe=True)  # cookies of an IP address
            async with aiohttp.ClientSession(f"http://127.0.0.1:{first.port}", cookie_jar=jar) as http:
                health = await (await http.get("/healthz")).json()
                mail_in = health["mail_in"]
                assert mail_in["listening"] and mail_in["protocol"] == "lmtp"
                assert mail_in["address"] == f"127.0.0.1:{ports[0]}"
                assert sum(mail_in["mails"].get(k, 0) for k in ("ticket", "duplicate")) == 1
                login = await http.post("/api/login", json={"username": "anna", "password": PASSWORD})
                assert login.status == 200
                found = await (await http.get(f"/api/tenants/{TENANT_A}/tickets?channel=mail")).json()
                assert [t["number"] for t in found["tickets"]] == list(numbers)
        finally:
            for server in (tracker, second, first):
                await server.close()
        assert first.part("mail_in").health()["listening"] is False


async def test_an_all_in_one_process_takes_mail_lease_or_not(world: Seeded) -> None:
    async with AmiSimulator(default_config(2), speed=0) as sim:
        active, standby = (
            Server(_settings(world, ami_port=sim.port, mail_in_protocol="smtp"), role="all") for _ in range(2)
        )
        await active.start()
        await standby.start()
        try:
            assert active.tracking.is_set() and not standby.tracking.is_set()  # the second waits for the lease
            for server in (active, standby):
                answers = await deliver(server.part("mail_in").port, mail(), rcpts=[NORD, SUED], lmtp=False)
                assert {a.code for a in answers.values()} == {250}
        finally:
            await standby.close()
            await active.close()


async def test_without_the_setting_nothing_listens(world: Seeded) -> None:
    server = Server(web_settings(world.url, http_port=0), role="web")
    await server.start()
    try:
        assert server.part("mail_in") is None and not server.listening
        assert "mail_in" not in server._health()
    finally:
        await server.close()


async def test_a_shutdown_lets_the_mail_being_written_finish(world: Seeded) -> None:
    server = Server(_settings(world), role="web")
    await server.start()
    listener = server.part("mail_in")
    sending = asyncio.ensure_future(one(listener.port, mail()))
    try:
        async with asyncio.timeout(10):
            while not listener.handler.busy and not sending.done():  # noqa: ASYNC110 - the peer's state
                await asyncio.sleep(0.001)
        caught = listener.handler.busy > 0
    finally:
        await server.close()  # while the mail is being taken in
    answer = await sending
    assert caught and answer.code == 250 and "opened" in answer.text
