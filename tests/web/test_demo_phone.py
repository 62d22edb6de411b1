"""The demo's browser softphone over HTTP: only in the demo, only a person's own phone, the console's checks;
answering goes through the PBX and the service like any pick-up. And the live KPI page behind its login."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.support.helpers import eventually
from tests.support.webapp import login
from tests.web.demo_world import NORD, PERSON, demo_fixture, ring_the_person  # noqa: F401 - the fixture
from uhd_telephony.app.demo import Demo
from uhd_telephony.app.demo.data import DEMO_PASSWORD
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.metrics.api import KPI_ROLES
from uhd_telephony.tickets.view import tickets
from uhd_telephony.web.permissions import KPI_PAGE_ROLES


class Browser:
    """An HTTP client with its own cookie jar, logged in as one of the demo's logins."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def login(self, username: str) -> None:
        async with self.session.post(
            self.base + "/api/login", json={"username": username, "password": DEMO_PASSWORD}
        ) as response:
            assert response.status == 200, await response.text()
            self.csrf = (await response.json())["account"]["csrf_token"]

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.base + path, allow_redirects=False) as response:
            body = await response.json() if response.content_type == "application/json" else await response.text()
            return response.status, body

    async def post(self, path: str, body: Any = None, *, csrf: bool = True) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        async with self.session.post(self.base + path, json=body or {}, headers=headers) as response:
            return response.status, await response.json()

    async def close(self) -> None:
        await self.session.close()


@pytest.fixture
async def browsers(demo: Demo) -> AsyncIterator[dict[str, Browser]]:
    opened = {name: Browser(demo.base_url) for name in ("anon", "you", "agent101", "lead")}
    try:
        for name, browser in opened.items():
            if name != "anon":
                await browser.login(name)
        yield opened
    finally:
        for browser in opened.values():
            await browser.close()


@pytest.mark.slow
async def test_the_person_answers_and_hangs_up_through_the_pbx(demo: Demo, browsers: dict[str, Browser]) -> None:
    you = browsers["you"]
    status, body = await you.get("/api/me")
    assert status == 200 and body["features"] == ["demo"]  # what tells the console to show the softphone
    status, body = await you.get("/api/demo/phone")
    assert status == 200 and body["demo"]["speed"] == 0
    phone = body["phone"]
    assert (phone["interface"], phone["state"], phone["paused"]) == (PERSON, "idle", True)  # until "ready"
    status, body = await you.post("/api/demo/phone/pause", {"paused": False})
    assert status == 200 and not body["phone"]["paused"]

    caller, placed = ring_the_person(demo)
    assert demo.sim is not None
    await demo.sim.advance(1)  # the AGI lookup, the queue, the ring
    status, body = await you.get("/api/demo/phone")
    phone = body["phone"]
    assert phone["state"] == "ringing" and phone["caller_name"] == caller.name and phone["tenant"] == NORD
    assert phone["linkedid"] == placed.linkedid and phone["ring_left_s"] == pytest.approx(14, abs=1.01)

    status, body = await you.post("/api/demo/phone/answer", {"linkedid": "1800000000.999"})
    assert status == 409 and body["details"] == {"linkedid": placed.linkedid}  # not the call the person chose
    status, body = await you.post("/api/demo/phone/answer", {"linkedid": placed.linkedid})
    assert status == 200 and body["phone"]["state"] == "talking"
    status, body = await you.post("/api/demo/phone/answer")
    assert status == 409 and body["error_id"] == "conflict"  # a double click answers once

    # the service saw AgentConnect like any answer: one ticket, for the person's account, mailed to the caller
    server = demo.server
    assert server is not None and server.calls.db is not None
    db = server.calls.db
    found: list[Any] = []

    async def ticket_opened() -> bool:
        stmt = select(tickets.c.number, tickets.c.agent_name).where(tickets.c.call_linkedid == placed.linkedid)
        async with db.engine.connect() as conn:
            found[:] = (await conn.execute(stmt)).all()
        return bool(found)

    await until(ticket_opened)
    [(number, agent_name)] = found
    assert agent_name == "Sie (Browser)"
    await eventually(lambda: any(demo.mail_dir.glob("*.eml")), within=15)
    mail = next(demo.mail_dir.glob("*.eml")).read_text()
    assert number in mail and f"{demo.base_url}/status/" in mail  # the status link names the demo's real port

    status, body = await you.post("/api/demo/phone/hangup")
    assert status == 200 and body["phone"]["state"] == "idle"
    status, body = await you.post("/api/demo/phone/hangup")
    assert status == 409

    async def recorded() -> bool:
        return await CallRepository(db).count() >= 1

    await until(recorded, within=15)  # the call record, after the tracker's grace for late events


async def test_only_a_persons_own_phone_and_only_with_the_consoles_checks(browsers: dict[str, Browser]) -> None:
    anon, you, agent, lead = browsers["anon"], browsers["you"], browsers["agent101"], browsers["lead"]
    assert (await anon.get("/api/demo/phone"))[0] == 401
    assert (await anon.post("/api/demo/phone/answer"))[0] == 401
    assert (await anon.post("/api/demo/phone/pause", {"nonsense": 1}))[0] == 401  # before the body is read
    assert (await lead.get("/api/demo/phone"))[0] == 403  # a manager has no phone
    assert (await lead.post("/api/demo/phone/hangup"))[0] == 403
    status, body = await lead.get("/api/demo")  # but may read what is simulated (the KPI page says it)
    assert status == 200 and body["demo"]["mail_dir"].endswith("mail")
    status, body = await agent.get("/api/demo/phone")
    assert status == 200 and body["phone"] is None  # a simulated agent: the simulator answers for it
    status, body = await agent.post("/api/demo/phone/answer")
    assert status == 409 and "simulator" in body["message"]
    status, body = await you.post("/api/demo/phone/pause", {"paused": False}, csrf=False)
    assert status == 403 and "CSRF" in body["message"]
    status, body = await you.post("/api/demo/phone/pause", {"paused": "soon"})
    assert status == 400
    status, body = await you.post("/api/demo/phone/answer")
    assert status == 409 and "not ringing" in body["message"]


async def test_the_kpi_page_is_behind_its_login(demo: Demo, browsers: dict[str, Browser]) -> None:
    status, _ = await browsers["anon"].get("/kpis")
    assert status == 302
    for name in ("lead", "agent101"):
        status, page = await browsers[name].get("/kpis")
        assert status == 200 and "/static/kpis.js" in page
    status, body = await browsers["lead"].get(f"/api/tenants/{NORD}/kpis?from=2026-01-01&to=2026-01-01")
    assert status == 200 and body["calls"]["offered"] == 0


async def until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Until ``await check()`` is true."""
    async with asyncio.timeout(within):
        # the state is the service's, in its database: there is no Event to wait on
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def test_without_the_demo_there_is_no_softphone(client: TestClient) -> None:
    csrf = await login(client, "anna")
    me = await (await client.get("/api/me")).json()
    assert me["features"] == []  # the console shows no softphone and asks for none
    assert (await client.get("/api/demo/phone")).status == 404
    assert (await client.get("/api/demo")).status == 404
    assert (await client.post("/api/demo/phone/answer", json={}, headers={"X-CSRF-Token": csrf})).status == 404


async def test_the_demos_routes_are_in_its_openapi_document(browsers: dict[str, Browser]) -> None:
    status, spec = await browsers["anon"].get("/api/openapi.json")
    assert status == 200
    demo_paths = {p: ops for p, ops in spec["paths"].items() if p.startswith("/api/demo")}
    assert set(demo_paths) == {"/api/demo", "/api/demo/phone", "/api/demo/phone/answer", "/api/demo/phone/hangup",
                               "/api/demo/phone/pause"}  # fmt: skip
    assert not any("x-undocumented" in op for ops in demo_paths.values() for op in ops.values())


def test_the_kpi_page_admits_whom_the_kpi_api_admits() -> None:
    assert set(KPI_PAGE_ROLES) == set(KPI_ROLES)
