"""The major incidents' API on the real app (SQLite and PostgreSQL): agents and managers declare, link and resolve,
managers set the threshold, partners see nothing; another tenant's incident or ticket is the same 404 as one that
does not exist; hostile input is a 400 in words; the NIS2 export in CSV (German headers, Berlin times in words, no
formula runs) and JSON; every answer as the OpenAPI document says."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B, Seeded, seed, web_settings
from tests.tickets.webapp import Api
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.app.web import init_app
from uhd_telephony.security.tokens import TokenService
from uhd_telephony.store.db import Database

BASE = "/api/tenants/{tenant}/incidents"
ONE = BASE + "/{incident_id}"
DECLARE = {"title": "KIS ausgefallen", "caller_message": "Das KIS ist gestört. Wir arbeiten daran."}


@dataclass
class World:
    seeded: Seeded
    partner_token: str  # a partner's API token with both ticket scopes


@pytest.fixture
async def world(db_url: str) -> World:
    """The seeded tenants, a manager of tenant A (Maria) and a partner's token."""
    seeded = await seed(db_url)
    async with Database(db_url) as db:
        accounts = AccountService(db)
        await accounts.create("maria", PASSWORD, display_name="Maria Leitung", role="manager", tenants=[TENANT_A])
        acme = await accounts.create("acme", PASSWORD, role="partner", tenants=[TENANT_A], partner_group="partner:acme")
        issued = await TokenService(db).create(acme.id, name="acme", scopes=["tickets:read", "tickets:write"])
    return World(seeded, issued.secret)


@pytest.fixture
async def client(world: World, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    yield await aiohttp_client(init_app(web_settings(world.seeded.url)))


@pytest.fixture
async def spec(client: TestClient) -> dict[str, Any]:
    return dict(await (await client.get("/api/openapi.json")).json())


def check(spec: dict[str, Any], path: str, method: str, status: int, instance: Any) -> Any:
    """``instance`` is what the document says ``method path`` answers with ``status``."""
    response = spec["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = response["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(instance)
    return instance


async def test_declare_link_and_resolve_through_the_api(client: TestClient, spec: dict[str, Any]) -> None:
    anna = await Api(client).login("anna")
    category = "kis/orbis"
    declared = await anna.post("/incidents", {**DECLARE, "category": category}, expect=201)
    check(spec, BASE, "post", 201, declared)
    incident = declared["incident"]
    assert (incident["status"], incident["category"], incident["declared_by"]["name"]) == (
        "open",
        category,
        "Anna Becker",
    )
    assert incident["deadlines"]["early_warning_due_at"].endswith("Z") and incident["prompt"] is None
    one = f"/incidents/{incident['id']}"

    ticket = await anna.create(requester={"name": "Paula Pflege", "email": "paula.pflege@klinikum-nord.example"})
    linked = await anna.post(f"{one}/tickets/{ticket['id']}", expect=200)
    check(spec, ONE + "/tickets/{ticket_id}", "post", 200, linked)
    again = await anna.post(f"{one}/tickets/{ticket['id']}", expect=200)
    assert (linked["linked"], again["linked"], again["incident"]["tickets"]["linked"]) == (True, False, 1)

    # the ticket read says which incident a ticket belongs to
    read = (await anna.get(f"/tickets/{ticket['id']}"))["ticket"]
    check(spec, "/api/tenants/{tenant}/tickets/{ticket_id}", "get", 200, {"ticket": read})
    assert read["incident"]["id"] == incident["id"] and read["incident"]["role"] == "linked"
    parent = (await anna.get(f"/tickets/{incident['parent_ticket']['id']}"))["ticket"]
    assert parent["incident"]["role"] == "parent" and parent["incident"]["status"] == "open"
    unrelated = await anna.create()
    assert (await anna.get(f"/tickets/{unrelated['id']}"))["ticket"]["incident"] is None

    detail = check(spec, ONE, "get", 200, await anna.get(one))
    assert [t["number"] for t in detail["tickets"]] == [ticket["number"]] and detail["subscribers"] == []
    listed = check(spec, BASE, "get", 200, await anna.get("/incidents?status=open"))
    assert listed["total"] == 1 and listed["incidents"][0]["id"] == incident["id"]
    assert (await anna.get("/incidents?status=resolved"))["total"] == 0

    edited = check(
        spec, ONE, "patch", 200, await anna.patch(one, {"title": "KIS und PACS ausgefallen", "category": None})
    )
    assert edited["incident"]["title"] == "KIS und PACS ausgefallen" and edited["incident"]["category"] is None

    resolved = await anna.post(f"{one}/resolve", {"resolution": "Server neu gestartet."})
    check(spec, ONE + "/resolve", "post", 200, resolved)
    assert resolved["told"] == 1 and resolved["incident"]["status"] == "resolved"
    assert resolved["incident"]["tickets"] == {"linked": 1, "notified": 1}
    assert (await anna.get(f"/tickets/{ticket['id']}"))["ticket"]["status"] == "resolved"
    assert (await anna.post(f"{one}/resolve", {"resolution": "noch einmal"}))["told"] == 0
    conflict = await anna.post(f"{one}/tickets/{unrelated['id']}", expect=409)
    check(spec, ONE + "/tickets/{ticket_id}", "post", 409, conflict)
    assert conflict["text"] == "Die Großstörung ist bereits behoben."


async def test_the_parent_resolved_through_the_ticket_api_resolves_the_incident(client: TestClient) -> None:
    anna = await Api(client).login("anna")
    incident = (await anna.post("/incidents", DECLARE, expect=201))["incident"]
    parent = incident["parent_ticket"]["id"]
    await anna.post(f"/tickets/{parent}/resolve", {"resolution": "Netzteil getauscht"})
    found = (await anna.get(f"/incidents/{incident['id']}"))["incident"]
    assert (found["status"], found["resolution"]) == ("resolved", "Netzteil getauscht")


async def test_another_tenants_incidents_and_tickets_are_as_unknown_as_missing_ones(
    client: TestClient, aiohttp_client: Any
) -> None:
    anna = await Api(client).login("anna")
    carl = await Api(await aiohttp_client(client.server), tenant=TENANT_B).login("carl")
    theirs = (await carl.post("/incidents", DECLARE, expect=201))["incident"]
    their_ticket = await carl.create()
    ours = (await anna.post("/incidents", DECLARE, expect=201))["incident"]
    our_ticket = await anna.create()

    def same(a: dict[str, Any], b: dict[str, Any]) -> None:
        assert a["error_id"] == b["error_id"] == "not-found"
        assert re.sub(r"\d+", "N", a["message"]) == re.sub(r"\d+", "N", b["message"])

    missing = 99_999_999
    same(await anna.get(f"/incidents/{theirs['id']}", expect=404), await anna.get(f"/incidents/{missing}", expect=404))
    same(
        await anna.post(f"/incidents/{ours['id']}/tickets/{their_ticket['id']}", expect=404),
        await anna.post(f"/incidents/{ours['id']}/tickets/{missing}", expect=404),
    )
    same(
        await anna.post(f"/incidents/{theirs['id']}/tickets/{our_ticket['id']}", expect=404),
        await anna.post(f"/incidents/{missing}/tickets/{our_ticket['id']}", expect=404),
    )
    await anna.call("DELETE", anna.url(f"/incidents/{ours['id']}/tickets/{their_ticket['id']}"), expect=404)
    await anna.post(f"/incidents/{theirs['id']}/resolve", {"resolution": "x"}, expect=404)
    await anna.patch(f"/incidents/{theirs['id']}", {"title": "x"}, expect=404)
    for path in ("/incidents", f"/incidents/{theirs['id']}", "/incidents/suggestions", "/incidents/settings"):
        await anna.get(path, tenant=TENANT_B, expect=404)
    declared = await anna.post(
        "/incidents", {**DECLARE, "ticket_ids": [their_ticket["id"]]}, tenant=TENANT_A, expect=404
    )
    assert declared["error_id"] == "not-found"
    listed = await anna.get("/incidents")
    assert [i["id"] for i in listed["incidents"]] == [ours["id"]] and "klinikum-sued" not in str(listed)
    assert (await carl.get(f"/incidents/{theirs['id']}"))["incident"]["tickets"]["linked"] == 0
    await carl.client.close()


async def test_roles_partners_see_no_incidents_and_leads_set_the_threshold(
    client: TestClient, world: World, spec: dict[str, Any]
) -> None:
    maria = await Api(client).login("maria")
    declared = (await maria.post("/incidents", DECLARE, expect=201))["incident"]
    assert declared["declared_by"]["name"] == "Maria Leitung"
    settings = await maria.call("PUT", maria.url("/incidents/settings"), {"pileup_count": 3, "pileup_minutes": 10})
    check(spec, BASE + "/settings", "put", 200, settings)
    assert settings["settings"] == {"pileup_count": 3, "pileup_minutes": 10, "default": False}
    bad = await maria.call(
        "PUT", maria.url("/incidents/settings"), {"pileup_count": 1, "pileup_minutes": 10}, expect=400
    )
    assert "Anzahl Tickets" in bad["text"]

    anna = await Api(client).login("anna")
    assert (await anna.get("/incidents/settings"))["settings"]["pileup_count"] == 3
    await anna.call("PUT", anna.url("/incidents/settings"), {"pileup_count": 9, "pileup_minutes": 10}, expect=403)
    suggestions = check(spec, BASE + "/suggestions", "get", 200, await anna.get("/incidents/suggestions"))
    assert suggestions == {"suggestions": [], "threshold": {"pileup_count": 3, "pileup_minutes": 10, "default": False}}

    token = {"Authorization": f"Bearer {world.partner_token}"}
    for method, path in (("GET", "/incidents"), ("GET", f"/incidents/{declared['id']}"), ("POST", "/incidents")):
        response = await client.request(method, f"/api/tenants/{TENANT_A}{path}", json=DECLARE, headers=token)
        assert response.status == 403, (method, path)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**DECLARE, "title": "x" * 201}, "Titel"),
        ({**DECLARE, "title": "KIS\u0007aus"}, "Titel"),
        ({**DECLARE, "caller_message": "x" * 1001}, "Ansage für Anrufer"),
        ({**DECLARE, "known_at": "2026-13-01T00:00:00+01:00"}, "Bekannt seit"),
        ({**DECLARE, "known_at": "0001-01-01T00:00:00+14:00"}, "Bekannt seit"),
        ({**DECLARE, "known_at": "2999-01-01T00:00:00+01:00"}, "Bekannt seit"),
        ({**DECLARE, "ticket_ids": [0]}, "Tickets"),
        ({**DECLARE, "category": "gibt/es/nicht"}, "gibt/es/nicht"),
        ({**DECLARE, "extra": 1}, "extra"),
        ({"title": "nur Titel"}, "Ansage für Anrufer"),
    ],
)
async def test_hostile_input_is_a_400_in_words_and_writes_nothing(
    client: TestClient, spec: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    anna = await Api(client).login("anna")
    refused = await anna.post("/incidents", body, expect=400)
    check(spec, BASE, "post", 400, refused)
    assert field in refused["text"], refused
    assert (await anna.get("/incidents"))["total"] == 0


async def test_the_nis2_export_in_csv_and_json(client: TestClient, spec: dict[str, Any]) -> None:
    anna = await Api(client).login("anna")
    hostile = {**DECLARE, "title": '=HYPERLINK("http://evil";"klick")', "known_at": "2026-03-02T09:00:00+01:00"}
    incident = (await anna.post("/incidents", hostile, expect=201))["incident"]
    await anna.post(f"/incidents/{incident['id']}/resolve", {"resolution": "-behoben"})
    query = "/incidents/export?from=2026-03-01&to=2099-12-31"
    too_long = await anna.get(query, expect=400)
    assert "400" in too_long["text"]  # a period of at most 400 days
    today = date.today().isoformat()
    start = (date.today() - timedelta(days=60)).isoformat()
    response = await client.get(anna.url(f"/incidents/export?from={start}&to={today}"))
    assert response.status == 200 and response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(await response.text())))
    header, row = rows[0], rows[1]
    assert header[:5] == ["Störung Nr.", "Titel", "Kategorie", "Status", "Bekannt seit"]
    assert "Frühwarnung fällig (24 h)" in header and "Abschlussbericht fällig (ein Monat)" in header
    cells = dict(zip(header, row, strict=True))
    assert cells["Titel"].startswith("'=HYPERLINK") and cells["Lösung"] == "'-behoben"  # no formula runs
    assert cells["Bekannt seit"] == "02.03.2026, 09:00" and cells["Frühwarnung fällig (24 h)"] == "03.03.2026, 09:00"
    assert cells["Meldung fällig (72 h)"] == "05.03.2026, 09:00" and cells["Status"] == "Behoben"
    assert cells["Abschlussbericht fällig (ein Monat)"] == "05.04.2026, 09:00"  # summer time by then: still 09:00
    assert not re.search(r"\d{4}-\d\d-\d\dT", await response.text())  # no ISO instants for people

    as_json = await anna.get(f"/incidents/export?from={start}&to={today}&format=json")
    check(spec, BASE + "/export", "get", 200, as_json)
    (exported,) = as_json["incidents"]
    assert exported["known_at"] == "2026-03-02T08:00:00.000Z" and exported["title"] == hostile["title"]
    assert exported["deadlines"]["final_report_due_at"] == "2026-04-05T07:00:00.000Z"
    one = await anna.get(f"/incidents/{incident['id']}/export?format=json")
    assert one["incidents"] == [exported] and one["from"] is None
    single = await client.get(anna.url(f"/incidents/{incident['id']}/export"))
    assert single.status == 200 and (await single.text()).startswith("Störung Nr.,Titel")
    for bad in ("from=gestern&to=heute", f"from={today}&to={start}", f"from={start}&to={today}&format=xlsx"):
        check(spec, BASE + "/export", "get", 400, await anna.get(f"/incidents/export?{bad}", expect=400))

    await anna.call("PUT", "/api/me/locale", {"locale": "en"}, expect=200)
    english = await client.get(anna.url(f"/incidents/{incident['id']}/export"))
    text = await english.text()
    assert text.startswith("Incident no.,Title,Category,Status,Became known") and "Resolved" in text
    refused = await anna.post("/incidents", {**DECLARE, "title": ""}, expect=400)
    assert "Title" in refused["text"] and "Titel" not in refused["text"]
