"""Pile-ups: N tickets of one category within M minutes offer a major incident — not N-1, not spread wider, not
when an open incident covers the category; per tenant thresholds; the offer pushed once to the consoles of the
tenant's agents (a real console WebSocket), and declaring from it links its tickets."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from tests.incidents.conftest import T0, TENANT_A, TENANT_B, World
from tests.support.webapp import PASSWORD, Seeded, app_of, login
from tests.web.conftest import client, seeded
from uhd_telephony.errors import InvalidInput
from uhd_telephony.incidents import plugin
from uhd_telephony.incidents.pileup import Threshold, pile_ups, set_threshold, suggestions
from uhd_telephony.incidents.worker import IncidentScanner, IncidentSuggested
from uhd_telephony.runtime.bus import Bus
from uhd_telephony.runtime.plugin import Runtime
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.web import keys

__all__ = ["client", "seeded"]

FIVE_IN_15 = Threshold()


def _at(*minutes: float, path: str = "kis/orbis") -> list[tuple[int, str, datetime]]:
    return [(i + 1, path, T0 + timedelta(minutes=m)) for i, m in enumerate(minutes)]


def test_n_minus_one_is_no_pile_up_and_n_is_one() -> None:
    assert pile_ups(_at(0, 1, 2, 3), FIVE_IN_15) == []
    found = pile_ups(_at(0, 1, 2, 3, 4), FIVE_IN_15)
    assert [(path, [i for i, _ in rows]) for path, rows in found] == [("kis/orbis", [1, 2, 3, 4, 5])]


def test_a_pile_up_must_fit_in_the_window() -> None:
    assert pile_ups(_at(0, 4, 8, 12, 15.01), FIVE_IN_15) == []  # the fifth comes a moment too late
    assert len(pile_ups(_at(0, 4, 8, 12, 15), FIVE_IN_15)) == 1  # exactly 15 minutes apart: within
    # any 15 minutes will do: an early stray ticket does not spoil the five that follow (all six are offered)
    found = pile_ups(_at(-60, 0, 1, 2, 3, 4), FIVE_IN_15)
    assert len(found) == 1 and len(found[0][1]) == 6
    assert pile_ups(_at(0, 1, 2, 3, 4), Threshold(5, 3, default=False)) == []  # a tenant's own window


def test_an_open_incident_of_the_category_or_above_it_covers_it() -> None:
    reports = _at(0, 1, 2, 3, 4) + _at(0, 1, 2, 3, 4, path="pacs")
    assert [p for p, _ in pile_ups(reports, FIVE_IN_15, ["kis/orbis"])] == ["pacs"]
    assert [p for p, _ in pile_ups(reports, FIVE_IN_15, ["kis"])] == ["pacs"]
    assert [p for p, _ in pile_ups(reports, FIVE_IN_15, ["kis/orb"])] == ["kis/orbis", "pacs"]  # no prefix match
    assert pile_ups(reports, FIVE_IN_15, ["kis", "pacs"]) == []


async def _reports(
    world: World, count: int, *, every_min: float = 1, path: str = "kis/orbis", tenant: str = TENANT_A
) -> list[int]:
    ids = []
    for _ in range(count):
        ids.append((await world.ticket(category=path, tenant=tenant)).id)
        world.later(minutes=every_min)
    return ids


async def _offered(world: World) -> list[dict[str, Any]]:
    async with world.db.engine.connect() as conn:
        threshold, found = await suggestions(conn, TENANT_A, world.clock.now)
    assert threshold == FIVE_IN_15
    return [s.to_dict() for s in found]


async def test_the_tenants_tickets_pile_up_until_an_incident_covers_them(world: World) -> None:
    first = await _reports(world, 4)
    await _reports(world, 5, tenant=TENANT_B)  # another tenant's pile-up is its own
    assert await _offered(world) == []
    fifth = await _reports(world, 1)
    offered = await _offered(world)
    assert len(offered) == 1
    offer = offered[0]
    assert (offer["category"], offer["count"], offer["ticket_ids"]) == ("kis/orbis", 5, first + fifth)
    assert offer["category_label"] == "KIS (Krankenhausinformationssystem) › ORBIS"
    assert offer["first_at"] == "2026-03-02T08:00:00.000Z" and offer["last_at"] == "2026-03-02T08:09:00.000Z"

    # declaring from the offer links its tickets; the category is covered while the incident is open
    view = await world.declare(category="kis/orbis", ticket_ids=offer["ticket_ids"])
    assert view.tickets == 5 and view.known_at == T0  # known since the first report
    more = await _reports(world, 5)
    assert await _offered(world) == []
    await world.incidents.resolve(TENANT_A, view.id, resolution="Behoben", actor=world.anna)
    assert [o["ticket_ids"] for o in await _offered(world)] == [more]  # the linked ones never again


async def test_a_tenants_threshold_is_its_own_and_checked(world: World) -> None:
    await set_threshold(world.db, TENANT_A, count=3, minutes=5, account=world.seeded.anna.id, at=T0)
    await _reports(world, 3, every_min=2)
    async with world.db.engine.connect() as conn:
        threshold, found = await suggestions(conn, TENANT_A, world.clock.now)
        other, nothing = await suggestions(conn, TENANT_B, world.clock.now)
    assert threshold == Threshold(3, 5, default=False) and len(found) == 1
    assert other == FIVE_IN_15 and nothing == []
    for count, minutes in ((1, 15), (101, 15), (5, 0), (5, 1441), (True, 15)):
        with pytest.raises(InvalidInput):
            await set_threshold(world.db, TENANT_A, count=count, minutes=minutes, account=None, at=T0)
    changed = await set_threshold(world.db, TENANT_A, count=10, minutes=60, account=None, at=T0)
    async with world.db.engine.connect() as conn:
        assert (await suggestions(conn, TENANT_A, world.clock.now))[0] == changed == Threshold(10, 60, default=False)


async def test_old_tickets_leave_the_offer(world: World) -> None:
    await _reports(world, 5)
    assert len(await _offered(world)) == 1
    world.later(hours=2)  # the lookback: twice the window, at least two hours
    assert await _offered(world) == []


async def _message(ws: Any, kind: str, wait_s: float = 5.0) -> dict[str, Any] | None:
    try:
        async with asyncio.timeout(wait_s):
            while True:
                msg = await ws.receive()
                assert msg.type == WSMsgType.TEXT, msg
                data = json.loads(msg.data)
                if data["type"] == kind:
                    return dict(data)
    except TimeoutError:
        return None


async def test_the_offer_is_pushed_once_to_the_consoles_of_the_tenants_agents(
    client: TestClient, seeded: Seeded, aiohttp_client: Any
) -> None:
    app = app_of(client)
    await login(client, "anna")
    anna = await client.ws_connect("/ws/console")
    carl_browser = await aiohttp_client(client.server)
    await login(carl_browser, "carl", PASSWORD)
    carl = await carl_browser.ws_connect("/ws/console")
    bus = Bus()
    events: list[IncidentSuggested] = []
    bus.subscribe(events.append, IncidentSuggested)
    rt = Runtime(app[keys.SETTINGS], app[keys.DB], bus, app)
    (running,) = plugin.workers(rt)
    scanner = running.worker
    assert isinstance(scanner, IncidentScanner) and rt.get("incidents") is scanner
    tickets = app[keys.TICKETS]
    category = await _category(app, "pacs")
    made = [
        (await tickets.create(TENANT_A, channel="phone", subject=f"PACS {i}", requester=Requester(name="X"),
                              actor=f"agent:{seeded.anna.id}", category_id=category, impact=2, urgency=2)).id
        for i in range(5)
    ]  # fmt: skip
    try:
        assert await scanner.scan_once() == 1
        pushed = await _message(anna, "incident_suggestion")
        assert pushed is not None and pushed["tenant"] == TENANT_A and pushed["agent_id"] == seeded.anna.id
        assert pushed["suggestion"]["ticket_ids"] == made and pushed["suggestion"]["category"] == "pacs"
        assert [e.suggestion.category for e in events] == ["pacs"] and events[0].tenant == TENANT_A
        assert await scanner.scan_once() == 0  # offered once while it stands
        assert await _message(anna, "incident_suggestion", wait_s=0.3) is None
        assert await _message(carl, "incident_suggestion", wait_s=0.3) is None  # another tenant's agent
        assert scanner.health()["offered"] == 1
    finally:
        await anna.close()
        await carl.close()
        await carl_browser.close()


async def _category(app: Any, path: str) -> int:
    from sqlalchemy import select

    from uhd_telephony.tickets.view import categories

    async with app[keys.DB].engine.connect() as conn:
        stmt = select(categories.c.id).where(categories.c.tenant == TENANT_A, categories.c.path == path)
        return int((await conn.execute(stmt)).scalar_one())


def test_the_threshold_says_its_defaults() -> None:
    assert Threshold().to_dict() == {"pileup_count": 5, "pileup_minutes": 15, "default": True}
    assert Threshold(5, 15).lookback == timedelta(hours=2) and Threshold(5, 90).lookback == timedelta(hours=3)
    assert datetime(2026, 1, 1, tzinfo=UTC) < T0
