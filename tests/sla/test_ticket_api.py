"""The SLA where people work, through the ticket API on SQLite and PostgreSQL: every ticket read carries its SLA
state (due times, time left, paused, ok/warning/breached), the list sorts breaches first, then warnings, then by
the nearest due instant, and pages through that order; a tenant without an SLA says "none"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from tests.support.sla_data import sla_data
from tests.support.webapp import PASSWORD, TENANT_B, app_of, seed, web_settings
from tests.tickets.webapp import Api
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.app.web import init_app
from uhd_telephony.sla.escalation import SlaScanner
from uhd_telephony.sla.policy import import_sla
from uhd_telephony.sla.timers import schedule
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.schemas import TicketPageResponse, TicketResponse
from uhd_telephony.tickets.view import tickets
from uhd_telephony.web import keys

TENANT_A = "klinikum-nord"


@pytest.fixture
async def client(db_url: str, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    await seed(db_url)
    async with Database(db_url) as db:
        # unclassified tickets are measured by priority 1: response 15 min, resolution 4 h, around the clock
        await import_sla(db, TENANT_A, sla_data(unclassified_priority=1))
    yield await aiohttp_client(init_app(web_settings(db_url)))


async def _aged(client: TestClient, ticket_id: int, minutes: float) -> None:
    """The ticket as if created ``minutes`` ago, its timer recomputed."""
    db = app_of(client)[keys.DB]
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        await conn.execute(
            update(tickets).where(tickets.c.id == ticket_id).values(created_at=now - timedelta(minutes=minutes))
        )
        await schedule(conn, ticket_id, now)


async def test_ticket_reads_carry_the_sla_state_and_the_list_sorts_breaches_first(client: TestClient) -> None:
    anna = await Api(client).login("anna")
    made: dict[str, dict[str, Any]] = {}
    # created in an order (and at ages) unlike the order the SLA sort gives
    for name, age in (("later", 0.0), ("sooner", 1.0), ("warned", 12.0), ("breached", 20.0)):
        made[name] = await anna.create(subject=f"Ticket {name}")
        await _aged(client, made[name]["id"], age)
    made["waiting"] = await anna.create(subject="Ticket waiting")
    await _aged(client, made["waiting"]["id"], 5.0)
    await anna.post(f"/tickets/{made['waiting']['id']}/status", {"status": "in_progress"})  # Anna's response
    await anna.post(f"/tickets/{made['waiting']['id']}/status", {"status": "waiting", "note": "Rückfrage"})
    # the scanner fires what is due: the 12-minute ticket's response warning, the 20-minute ticket's breach
    assert await SlaScanner(app_of(client)[keys.DB], clock=lambda: datetime.now(UTC)).scan_once() == 2

    page = await anna.get("/tickets?sort=sla&limit=50")
    TicketPageResponse.model_validate(page)
    assert [t["subject"] for t in page["tickets"]] == [
        "Ticket breached", "Ticket warned", "Ticket sooner", "Ticket later", "Ticket waiting"
    ]  # fmt: skip
    sla = {t["subject"].split()[1]: t["sla"] for t in page["tickets"]}
    assert {name: s["state"] for name, s in sla.items()} == {
        "breached": "breached", "warned": "warning", "sooner": "ok", "later": "ok", "waiting": "ok"
    }  # fmt: skip
    assert sla["breached"]["response_state"] == "breached" and sla["breached"]["response_remaining_s"] < -290
    assert sla["warned"]["response_state"] == "warning" and 150 < sla["warned"]["response_remaining_s"] < 185
    assert sla["sooner"]["response_due_at"] < sla["later"]["response_due_at"]
    due = datetime.fromisoformat(sla["later"]["response_due_at"])
    assert abs(due - (datetime.now(UTC) + timedelta(minutes=15))) < timedelta(seconds=30)
    assert abs(sla["later"]["resolution_remaining_s"] - 4 * 3600) < 30
    # waiting on the caller: the clock stands still, nothing is due, the time left stays
    waiting = sla["waiting"]
    assert waiting["paused"] is True and waiting["resolution_due_at"] is None
    assert waiting["response_state"] == "met" and waiting["response_due_at"] is None
    assert abs(waiting["resolution_remaining_s"] - (4 * 3600 - 300)) < 30

    # the same state on every read of one ticket
    one = made["warned"]["id"]
    for path in (f"/tickets/{one}", f"/tickets/{one}/history", f"/tickets/by-number/{made['warned']['number']}"):
        body = await anna.get(path)
        TicketResponse.model_validate({"ticket": body["ticket"]})
        assert body["ticket"]["sla"]["state"] == "warning", path

    # paging through the SLA order: the cursor carries on where the page ended
    seen: list[str] = []
    cursor = None
    while True:
        query = "/tickets?sort=sla&limit=2" + (f"&cursor={cursor}" if cursor else "")
        part = await anna.get(query)
        seen += [t["subject"] for t in part["tickets"]]
        cursor = part["next_cursor"]
        if cursor is None:
            break
    assert seen == [t["subject"] for t in page["tickets"]]
    await anna.get("/tickets?sort=sla&cursor=bm9wZQ", expect=400)


async def test_a_tenant_without_an_sla_sorts_and_shows_none(client: TestClient) -> None:
    carl = await Api(client, tenant=TENANT_B).login("carl")
    made = await carl.create(subject="Ohne SLA")
    page = await carl.get("/tickets?sort=sla")
    assert [t["id"] for t in page["tickets"]] == [made["id"]]
    assert page["tickets"][0]["sla"]["state"] == "none"


async def test_the_open_escalations_of_a_tenant_are_its_own(client: TestClient, db_url: str) -> None:
    """What the KPI page lists for a team lead: the tenant's open escalations, never another tenant's."""
    async with Database(db_url) as db:
        await import_sla(db, TENANT_B, sla_data(unclassified_priority=1))
        accounts = AccountService(db)
        await accounts.create("maria", PASSWORD, role="manager", tenants=[TENANT_A])
        await accounts.create("max", PASSWORD, role="manager", tenants=[TENANT_B])
    # one browser: each login replaces the one before
    mine = await (await Api(client).login("anna")).create(subject="Nord überfällig")
    theirs = await (await Api(client, tenant=TENANT_B).login("carl")).create(subject="Süd überfällig")
    for ticket in (mine, theirs):
        await _aged(client, ticket["id"], 20.0)
    assert await SlaScanner(app_of(client)[keys.DB], clock=lambda: datetime.now(UTC)).scan_once() == 2

    maria = await Api(client).login("maria")
    listed = await maria.get("/escalations?open=true")
    assert [(e["ticket_id"], e["tenant"], e["open"]) for e in listed["escalations"]] == [(mine["id"], TENANT_A, True)]
    assert theirs["number"] not in str(listed)
    await maria.get("/escalations?open=true", tenant=TENANT_B, expect=404)
    # taken back: no longer open
    (escalation,) = listed["escalations"]
    await maria.post(f"/tickets/{mine['id']}/escalations/{escalation['id']}/de-escalate", {"reason": "erledigt"})
    assert (await maria.get("/escalations?open=true"))["total"] == 0
    max_ = await Api(client, tenant=TENANT_B).login("max")
    other = await max_.get("/escalations?open=true")  # the other tenant's: its own, still open
    assert [e["ticket_id"] for e in other["escalations"]] == [theirs["id"]] and mine["number"] not in str(other)
