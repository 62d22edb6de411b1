"""The escalation API on the real app: managers list, acknowledge and take back; agents and other tenants cannot;
the answers match the OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from sqlalchemy import select

from tests.support.sla_data import sla_data
from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B, app_of, seed, web_settings
from tests.tickets.webapp import Api
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.app.web import init_app
from uhd_telephony.outbox.models import outbox
from uhd_telephony.sla.escalation import SlaScanner
from uhd_telephony.sla.policy import import_sla
from uhd_telephony.store.db import Database
from uhd_telephony.web import keys


@pytest.fixture
async def client(sqlite_url: str, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    await seed(sqlite_url)
    async with Database(sqlite_url) as db:
        accounts = AccountService(db)
        await accounts.create("maria", PASSWORD, display_name="Maria Leitung", role="manager", tenants=[TENANT_A])
        await accounts.create("max", PASSWORD, display_name="Max Süd", role="manager", tenants=[TENANT_B])
        await import_sla(db, TENANT_A, sla_data())
    yield await aiohttp_client(init_app(web_settings(sqlite_url)))


async def _escalated_ticket(client: TestClient) -> tuple[int, list[int]]:
    """A web ticket of tenant A, opened by agent anna, whose response and resolution targets are both breached."""
    anna = await Api(client).login("anna")
    ticket = await anna.create()
    month_later = datetime.now(UTC) + timedelta(days=30)
    assert await SlaScanner(app_of(client)[keys.DB], clock=lambda: month_later).scan_once() == 2
    maria = await Api(client).login("maria")
    found = await maria.get(f"/escalations?ticket_id={ticket['id']}")
    return ticket["id"], sorted(e["id"] for e in found["escalations"])


def _check(spec: dict[str, Any], path: str, method: str, status: int, instance: Any) -> None:
    response = spec["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = response["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(instance)


async def test_a_manager_acknowledges_and_takes_back_an_escalation(client: TestClient) -> None:
    spec = await (await client.get("/api/openapi.json")).json()
    ticket_id, (response_breach, resolution_breach) = await _escalated_ticket(client)
    maria = await Api(client).login("maria")
    base = "/api/tenants/{tenant}/tickets/{ticket_id}/escalations/{escalation_id}"
    one = f"/tickets/{ticket_id}/escalations/{response_breach}"

    listed = await maria.get("/escalations?open=true")
    _check(spec, "/api/tenants/{tenant}/escalations", "get", 200, listed)
    assert listed["total"] == 2
    assert {(e["target"], e["kind"], e["level"], e["open"]) for e in listed["escalations"]} == {
        ("response", "breach", 2, True), ("resolution", "breach", 2, True)
    }  # fmt: skip

    acked = await maria.post(one + "/acknowledge", {"note": "Ich rufe die Station an"})
    _check(spec, base + "/acknowledge", "post", 200, acked)
    escalation = acked["escalation"]
    assert escalation["acknowledged_by"] == f"agent:{maria.account['id']}" and escalation["open"] is True
    stored = {e["id"]: e for e in (await maria.get("/escalations"))["escalations"]}
    assert stored[response_breach] == escalation  # the answer is the row as stored
    again = await maria.post(one + "/acknowledge", {}, expect=409)
    _check(spec, base + "/acknowledge", "post", 409, again)

    missing_reason = await maria.post(one + "/de-escalate", {}, expect=400)
    _check(spec, base + "/de-escalate", "post", 400, missing_reason)
    await maria.post(one + "/de-escalate", {"reason": "   "}, expect=400)
    taken_back = await maria.post(one + "/de-escalate", {"reason": "Station hat Ersatzgerät, kein Notfall"})
    _check(spec, base + "/de-escalate", "post", 200, taken_back)
    escalation = taken_back["escalation"]
    assert escalation["open"] is False and escalation["reason"] == "Station hat Ersatzgerät, kein Notfall"
    assert escalation["de_escalated_by"] == f"agent:{maria.account['id']}"
    assert escalation["acknowledged_at"] < escalation["de_escalated_at"]  # the acknowledgement stays as it was
    # the contacts the breach went to hear it was taken back: by Maria, with her reason
    db = client.server.app[keys.DB]
    stmt = select(outbox).where(outbox.c.dedupe_key.like(f"de-escalation:{response_breach}:%"))
    async with db.engine.connect() as conn:
        cleared = (await conn.execute(stmt)).mappings().all()
    mails = [r for r in cleared if r["channel"] == "mail"]
    assert mails and all("Station hat Ersatzgerät, kein Notfall" in r["body"]["text"] for r in mails)
    # by her name, never her account's code (agent:7)
    assert all("Zurückgenommen von: Maria Leitung," in r["body"]["text"] for r in mails)
    assert not any(escalation["de_escalated_by"] in r["body"]["text"] for r in mails)
    await maria.post(one + "/de-escalate", {"reason": "nochmal"}, expect=409)
    await maria.post(one + "/acknowledge", {}, expect=409)

    assert (await maria.get("/escalations?open=false"))["total"] == 1
    assert (await maria.get("/escalations?open=true&target=resolution"))["total"] == 1

    # resolving the ticket takes back what is still open, in the ticket's history with everything else
    anna = await Api(client).login("anna")
    await anna.post(f"/tickets/{ticket_id}/resolve", {"resolution": "Gerät getauscht"})
    history = (await anna.get(f"/tickets/{ticket_id}/history"))["history"]
    sla_rows = [(h["action"], h["actor"], h["old_value"] or h["new_value"]) for h in history if h["field"] == "sla"]
    manager = f"agent:{maria.account['id']}"
    assert sla_rows == [
        ("escalated", "system", "response breach"),
        ("escalated", "system", "resolution breach"),
        ("acknowledged", manager, "response breach"),
        ("de-escalated", manager, "response breach"),
        ("de-escalated", f"agent:{anna.account['id']}", "resolution breach"),
    ]
    taken = next(h for h in history if h["action"] == "de-escalated" and h["actor"] == manager)
    assert taken["note"] == f"escalation #{response_breach} taken back: Station hat Ersatzgerät, kein Notfall"
    maria = await Api(client).login("maria")
    closed = (await maria.get(f"/escalations?ticket_id={ticket_id}"))["escalations"]
    assert {e["id"]: e["reason"] for e in closed} == {
        response_breach: "Station hat Ersatzgerät, kein Notfall", resolution_breach: "ticket resolved"
    }  # fmt: skip
    sla = await maria.get(f"/tickets/{ticket_id}/sla")
    _check(spec, "/api/tenants/{tenant}/tickets/{ticket_id}/sla", "get", 200, sla)
    assert sla["sla"]["paused"] is True and [t["met"] for t in sla["sla"]["targets"]] == [True, True]


async def test_agents_may_not_and_other_tenants_do_not_exist(client: TestClient) -> None:
    ticket_id, (first, second) = await _escalated_ticket(client)
    one = f"/tickets/{ticket_id}/escalations/{first}"
    anna = await Api(client).login("anna")  # an agent of the tenant: reads the ticket's SLA, nothing more
    await anna.get("/escalations", expect=403)
    await anna.post(one + "/acknowledge", {}, expect=403)
    await anna.post(one + "/de-escalate", {"reason": "x"}, expect=403)
    assert len((await anna.get(f"/tickets/{ticket_id}/sla"))["sla"]["escalations"]) == 2

    max_ = await Api(client, tenant=TENANT_B).login("max")  # a manager of the other tenant
    await max_.get("/escalations", expect=404, tenant=TENANT_A)
    await max_.post(one + "/acknowledge", {}, expect=404, tenant=TENANT_A)
    await max_.post(one + "/de-escalate", {"reason": "x"}, expect=404, tenant=TENANT_A)
    await max_.get(f"/tickets/{ticket_id}/sla", expect=404, tenant=TENANT_A)
    # under its own tenant the ticket and its escalation do not exist either
    await max_.post(one + "/acknowledge", {}, expect=404)
    await max_.get(f"/tickets/{ticket_id}/sla", expect=404)
    assert (await max_.get("/escalations"))["total"] == 0

    other = await (await Api(client).login("anna")).create(subject="anderes Ticket")
    maria = await Api(client).login("maria")
    await maria.post(f"/tickets/{ticket_id}/escalations/999999/acknowledge", {}, expect=404)
    await maria.post(f"/tickets/{other['id']}/escalations/{second}/acknowledge", {}, expect=404)  # not its ticket
    await maria.post(one + "/acknowledge", {"unknown": 1}, expect=400)
    await maria.get("/escalations?open=maybe", expect=400)
    await maria.get("/escalations?kind=warning&kind=breach", expect=400)
    # nothing of it changed anything
    rows = (await maria.get(f"/escalations?ticket_id={ticket_id}"))["escalations"]
    assert all(e["acknowledged_at"] is None and e["open"] for e in rows)


async def test_the_routes_are_in_the_openapi_document(client: TestClient) -> None:
    spec = await (await client.get("/api/openapi.json")).json()
    base = "/api/tenants/{tenant}/tickets/{ticket_id}/escalations/{escalation_id}"
    for path, method in (
        (base + "/acknowledge", "post"),
        (base + "/de-escalate", "post"),
        ("/api/tenants/{tenant}/escalations", "get"),
        ("/api/tenants/{tenant}/tickets/{ticket_id}/sla", "get"),
    ):
        operation = spec["paths"][path][method]
        assert not operation.get("x-undocumented") and operation["tags"] == ["escalations"], path
        assert {"401", "403", "404"} <= set(operation["responses"]), path
    assert {"400", "409", "413"} <= set(spec["paths"][base + "/de-escalate"]["post"]["responses"])
    params = {p["name"] for p in spec["paths"]["/api/tenants/{tenant}/escalations"]["get"]["parameters"]}
    assert {"tenant", "open", "ticket_id", "kind", "target", "limit", "offset"} <= params
