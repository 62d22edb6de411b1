"""The tickets REST API through the real app: roles and tenants, every write with its history, bad input, search."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B, Seeded, app_of
from tests.tickets.webapp import Api, counts, second_browser
from uhd_telephony.tickets.groups import import_groups
from uhd_telephony.tickets.view import tickets
from uhd_telephony.web import keys

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


@pytest.fixture
async def anna(client: TestClient) -> Api:
    return await Api(client).login("anna")


@pytest.fixture
async def manager(client: TestClient) -> AsyncIterator[Api]:
    await app_of(client)[keys.ACCOUNTS].create("maria", PASSWORD, role="manager", tenants=[TENANT_A])
    browser = await second_browser(client)
    try:
        yield await Api(browser).login("maria")
    finally:
        await browser.session.close()


async def _user_id(api: Api, text: str) -> int:
    users = (await api.get(f"/directory/search?q={text}"))["users"]
    assert users, text
    return int(users[0]["id"])


# -- create and read ----------------------------------------------------------------------------------------


async def test_create_a_web_ticket_and_read_it_by_id_and_number(anna: Api) -> None:
    response = await anna.client.post(
        anna.url("/tickets"),
        json={
            "channel": "web",
            "subject": "  Drucker Station 3B druckt nicht ",
            "description": "seit heute früh",
            "requester": {"name": "Sabine Weiß", "email": "sabine.weiss@example.org"},
        },
        headers={"X-CSRF-Token": anna.csrf},
    )
    assert response.status == 201, await response.text()
    ticket = (await response.json())["ticket"]
    assert response.headers["Location"] == f"/api/tenants/{TENANT_A}/tickets/{ticket['id']}"
    assert ticket["number"].startswith("UHD-20") and ticket["status"] == "new" and ticket["channel"] == "web"
    assert ticket["subject"] == "Drucker Station 3B druckt nicht"
    assert ticket["requester"]["email"] == "sabine.weiss@example.org" and ticket["requester"]["user_id"] is None
    assert ticket["first_response_at"] is None  # a web ticket waits for its first agent action
    assert ticket["next_statuses"] == ["in_progress", "resolved"]
    by_id = (await anna.get(f"/tickets/{ticket['id']}"))["ticket"]
    assert by_id["number"] == ticket["number"]
    by_number = (await anna.get(f"/tickets/by-number/{ticket['number'].lower()}"))["ticket"]
    assert by_number["id"] == ticket["id"]
    bad = await anna.get("/tickets/by-number/UHD-26-1", expect=400)
    assert bad["error_id"] == "invalid-ticket" and "UHD-<year>-<6 digits>" in bad["message"]
    missing = await anna.get("/tickets/by-number/UHD-1999-000001", expect=404)
    assert missing["error_id"] == "not-found"
    history = await anna.get(f"/tickets/{ticket['id']}/history")
    assert [e["action"] for e in history["history"]] == ["created"]
    assert history["history"][0]["actor"] == f"agent:{anna.account['id']}"


async def test_create_for_a_directory_user_classified_at_once(anna: Api) -> None:
    mueller = await _user_id(anna, "mueller")
    kis = await anna.category("kis")
    ticket = await anna.create(
        channel="phone", subject="KIS hängt", requester={"user_id": mueller}, category_id=kis, urgency=3
    )
    # the directory fills in name, number and VIP: Dr. Müller is a VIP, so urgency 3 counts as 2
    assert ticket["requester"]["name"] == "Dr. Jürgen Müller" and ticket["requester"]["vip"] is True
    assert ticket["requester"]["number"]
    assert (ticket["impact"], ticket["urgency"], ticket["priority"]) == (2, 3, 2)
    assert ticket["status"] == "in_progress" and ticket["category"]["path"] == "kis"
    assert ticket["first_response_at"] == ticket["created_at"]  # the agent typed it in with the caller on the line
    history = (await anna.get(f"/tickets/{ticket['id']}/history"))["history"]
    assert [(e["action"], e["field"]) for e in history] == [
        ("created", "number"),
        ("classified", "category"),
        ("classified", "impact"),
        ("classified", "urgency"),
        ("priority", "priority"),
        ("status", "status"),
    ]
    foreign = await anna.post(
        "/tickets", {"channel": "mail", "subject": "x", "requester": {"user_id": 999_999}}, expect=400
    )
    assert foreign["details"]["field"] == "requester.user_id"


async def test_first_agent_action_is_the_first_response(anna: Api) -> None:
    ticket = await anna.create(channel="mail", requester={"email": "k.lang@example.org"})
    assert ticket["first_response_at"] is None
    commented = await anna.post(f"/tickets/{ticket['id']}/comments", {"text": "Wir melden uns."}, expect=201)
    first = commented["ticket"]["first_response_at"]
    assert first is not None
    later = await anna.patch(f"/tickets/{ticket['id']}", {"description": "Outlook startet nicht"})
    assert later["ticket"]["first_response_at"] == first


# -- working a ticket ---------------------------------------------------------------------------------------


async def test_update_recomputes_priority_and_records_each_change(anna: Api) -> None:
    ticket = await anna.create()
    updated = await anna.patch(f"/tickets/{ticket['id']}", {"impact": 1, "urgency": 2, "subject": "Alle Drucker"})
    assert (updated["ticket"]["priority"], updated["ticket"]["priority_name"]) == (1, "critical")
    printer = await anna.category("hardware/printer")
    classified = (await anna.patch(f"/tickets/{ticket['id']}", {"category_id": printer}))["ticket"]
    assert classified["category"]["path"] == "hardware/printer" and classified["impact"] == 1
    history = (await anna.get(f"/tickets/{ticket['id']}/history"))["history"]
    changes = [(e["action"], e["field"], e["old_value"], e["new_value"]) for e in history[1:]]
    assert ("classified", "subject", "Drucker druckt nicht", "Alle Drucker") in changes
    assert ("priority", "priority", None, "1") in changes
    assert ("classified", "category", None, "hardware/printer") in changes
    assert ("status", "status", "new", "in_progress") in changes
    nothing = await anna.patch(f"/tickets/{ticket['id']}", {}, expect=400)
    assert "at least one" in json.dumps(nothing)
    null = await anna.patch(f"/tickets/{ticket['id']}", {"subject": None}, expect=400)
    assert null["details"]["problems"] == [
        {"field": "subject", "problem": "Input should be a valid string", "text": "Betreff muss Text sein."}
    ]


async def test_comments_internal_and_public(anna: Api) -> None:
    ticket = await anna.create()
    internal = await anna.post(f"/tickets/{ticket['id']}/comments", {"text": "Treiber 4.2 prüfen"}, expect=201)
    public = await anna.post(
        f"/tickets/{ticket['id']}/comments", {"text": "Ein Techniker kommt um 14 Uhr.", "public": True}, expect=201
    )
    assert (internal["entry"]["action"], internal["entry"]["field"]) == ("comment", "internal")
    assert (public["entry"]["field"], public["entry"]["note"]) == ("public", "Ein Techniker kommt um 14 Uhr.")
    history = (await anna.get(f"/tickets/{ticket['id']}/history"))["history"]
    assert [e["id"] for e in history[-2:]] == [internal["entry"]["id"], public["entry"]["id"]]


async def test_assign_to_agents_of_the_tenant_only(anna: Api, seeded: Seeded) -> None:
    ticket = await anna.create()
    agents = (await anna.get("/agents"))["agents"]
    assert [a["username"] for a in agents] == ["anna", "ben"]
    ben = next(a for a in agents if a["username"] == "ben")
    assigned = (await anna.post(f"/tickets/{ticket['id']}/assign", {"agent_id": ben["id"]}))["ticket"]
    assert assigned["agent"] == {"id": ben["id"], "name": "Ben Schäfer"}
    for agent_id, status in ((seeded.carl.id, 400), (999_999, 400), ("ben", 400), (0, 400)):
        error = await anna.post(f"/tickets/{ticket['id']}/assign", {"agent_id": agent_id}, expect=status)
        assert "agent_id" in json.dumps(error)
    mine = (await anna.get("/tickets?agent=" + str(ben["id"])))["tickets"]
    assert [t["id"] for t in mine] == [ticket["id"]]
    unassigned = (await anna.post(f"/tickets/{ticket['id']}/assign", {"agent_id": None}))["ticket"]
    assert unassigned["agent"] is None
    assert [t["id"] for t in (await anna.get("/tickets?agent=none"))["tickets"]] == [ticket["id"]]


async def test_assign_tells_nothing_of_other_tenants_accounts(anna: Api, seeded: Seeded, client: TestClient) -> None:
    """Carl (tenant B's agent), an id nobody has, an inactive colleague and a manager: one and the same answer,
    so tenant A's people cannot probe which account ids exist in another tenant."""
    ticket = await anna.create()
    accounts = app_of(client)[keys.ACCOUNTS]
    gone = await accounts.create("gerd", PASSWORD, tenants=[TENANT_A])
    await accounts.deactivate(gone.id)
    lead = await accounts.create("lena", PASSWORD, role="manager", tenants=[TENANT_A])
    nobody = max(seeded.carl.id, gone.id, lead.id) + 1000
    for agent_id in (seeded.carl.id, nobody, gone.id, lead.id):
        error = await anna.post(f"/tickets/{ticket['id']}/assign", {"agent_id": agent_id}, expect=400)
        assert error == {
            "error_id": "invalid-ticket",
            "message": f"{agent_id} is no active agent of {TENANT_A}",
            "text": "Diese Person ist kein aktiver Agent dieses Mandanten.",  # for people: German, no slug
            "details": {"field": "agent_id", "agent_id": agent_id},
        }, agent_id
    assert (await anna.get(f"/tickets/{ticket['id']}"))["ticket"]["agent"] is None


async def test_route_to_a_group_sends_a_work_order(anna: Api, client: TestClient) -> None:
    await import_groups(app_of(client)[keys.DB], TENANT_A, [{"code": "2nd_level", "mail": "second@example.org"}])
    ticket = await anna.create()
    before = await counts(client)
    routed = await anna.post(f"/tickets/{ticket['id']}/route", {"group": "2nd_level", "reason": "Treiber"})
    assert routed["route"] == {
        "ticket_id": ticket["id"],
        "number": ticket["number"],
        "routed": True,
        "old_group": "1st_level",
        "new_group": "2nd_level",
        "work_orders": ["mail"],
    }
    assert routed["ticket"]["support_group"] == "2nd_level"
    assert await counts(client) == (before[0], before[1] + 1)
    listed = (await anna.get("/tickets?group=2nd_level"))["tickets"]
    assert [t["id"] for t in listed] == [ticket["id"]]
    unknown = await anna.post(f"/tickets/{ticket['id']}/route", {"group": "partner:nobody", "reason": "x"}, expect=400)
    assert unknown["details"]["field"] == "group"
    await anna.post(f"/tickets/{ticket['id']}/route", {"reason": ""}, expect=400)


async def test_the_whole_life_of_a_ticket_through_the_api(anna: Api, client: TestClient) -> None:
    ticket = await anna.create(channel="web", requester={"name": "Sabine Weiß", "email": "s.weiss@example.org"})
    tid = ticket["id"]
    moved = (await anna.post(f"/tickets/{tid}/status", {"status": "in_progress"}))["ticket"]
    assert moved["status"] == "in_progress" and moved["next_statuses"] == ["waiting", "resolved"]
    await anna.post(f"/tickets/{tid}/status", {"status": "waiting", "note": "Rückruf erbeten"})
    await anna.post(f"/tickets/{tid}/status", {"status": "in_progress"})
    illegal = await anna.post(f"/tickets/{tid}/close", {}, expect=409)
    assert illegal["error_id"] == "conflict"
    assert (illegal["details"]["from"], illegal["details"]["to"]) == ("in_progress", "closed")
    assert "from in_progress to closed" in illegal["message"]
    await anna.post(f"/tickets/{tid}/resolve", {}, expect=400)  # the resolution is required
    resolved = (await anna.post(f"/tickets/{tid}/resolve", {"resolution": "Treiber neu installiert"}))["ticket"]
    assert resolved["resolved_at"] is not None and resolved["status"] == "resolved"
    closed = (await anna.post(f"/tickets/{tid}/close", {"note": "Anruferin bestätigt"}))["ticket"]
    assert closed["closed_at"] is not None and closed["next_statuses"] == ["reopened"]
    blocked = await anna.post(f"/tickets/{tid}/comments", {"text": "x"}, expect=409)
    assert "reopen it first" in blocked["message"]
    await anna.post(f"/tickets/{tid}/reopen", {}, expect=400)  # the reason is required
    reopened = (await anna.post(f"/tickets/{tid}/reopen", {"reason": "druckt wieder nicht"}))["ticket"]
    assert reopened["status"] == "reopened" and reopened["resolved_at"] is None and reopened["closed_at"] is None
    history = (await anna.get(f"/tickets/{tid}/history"))["history"]
    statuses = [(e["old_value"], e["new_value"], e["note"]) for e in history if e["action"] == "status"]
    assert statuses[1] == ("in_progress", "waiting", "SLA clock paused: Rückruf erbeten")
    assert statuses[2][2].startswith("SLA clock resumed after ")
    assert statuses[3:] == [
        ("in_progress", "resolved", "Treiber neu installiert"),
        ("resolved", "closed", "Anruferin bestätigt"),
        ("closed", "reopened", "druckt wieder nicht"),
    ]
    # the closure mail to the caller was queued in the closing transaction (tickets.notify)
    from sqlalchemy import func, select

    from uhd_telephony.outbox.models import outbox

    async with app_of(client)[keys.DB].engine.connect() as conn:
        targets = (await conn.execute(select(outbox.c.target, outbox.c.dedupe_key))).all()
    assert any(t == "s.weiss@example.org" and ":closed:" in key for t, key in targets)
    async with app_of(client)[keys.DB].engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(outbox))).scalar_one() >= 2


# -- who may do what ----------------------------------------------------------------------------------------


async def test_managers_read_but_do_not_write(anna: Api, manager: Api) -> None:
    ticket = await anna.create()
    assert (await manager.get("/tickets"))["total"] == 1
    assert (await manager.get(f"/tickets/{ticket['id']}/history"))["ticket"]["id"] == ticket["id"]
    for path, body in (
        ("/tickets", {"channel": "web", "subject": "x", "requester": {"name": "y"}}),
        (f"/tickets/{ticket['id']}/comments", {"text": "x"}),
        (f"/tickets/{ticket['id']}/status", {"status": "in_progress"}),
        (f"/tickets/{ticket['id']}/assign", {"agent_id": None}),
    ):
        refused = await manager.post(path, body, expect=403)
        assert refused["error_id"] == "forbidden"
    await manager.call("PATCH", manager.url(f"/tickets/{ticket['id']}"), {"subject": "x"}, expect=403)


async def test_another_tenant_sees_nothing(anna: Api, client: TestClient, other: TestClient) -> None:
    ticket = await anna.create(subject="Geheimes Projekt")
    carl = await Api(other, tenant=TENANT_B).login("carl")
    assert (await carl.get("/tickets"))["total"] == 0
    before = await counts(client)
    reads = [
        "/tickets",
        f"/tickets/{ticket['id']}",
        f"/tickets/{ticket['id']}/history",
        f"/tickets/by-number/{ticket['number']}",
        "/agents",
    ]
    for path in reads:
        response = await carl.client.get(carl.url(path, TENANT_A))
        text = await response.text()
        assert response.status == 404, path
        assert "Geheim" not in text and ticket["number"] not in text and TENANT_A not in text
    for path in reads[1:4]:  # A's ticket under B's name is no ticket either
        assert (await carl.client.get(carl.url(path))).status == 404, path
    for path, body in (
        (f"/tickets/{ticket['id']}/comments", {"text": "x"}),
        (f"/tickets/{ticket['id']}/resolve", {"resolution": "x"}),
        ("/tickets", {"channel": "web", "subject": "x", "requester": {"name": "y"}}),
    ):
        await carl.post(path, body, tenant=TENANT_A, expect=404)
        await carl.post(path, body, expect=404 if "comments" in path or "resolve" in path else 201)
    assert (await counts(client))[1] == before[1] + 1  # only carl's own new ticket's "created" row


async def test_writes_need_login_and_the_csrf_token(client: TestClient, anna: Api) -> None:
    ticket = await anna.create()
    url = anna.url(f"/tickets/{ticket['id']}/comments")
    assert (await client.post(url, json={"text": "x"})).status == 403
    assert (await client.post(url, json={"text": "x"}, headers={"X-CSRF-Token": "forged"})).status == 403
    await client.post("/api/logout", json={}, headers={"X-CSRF-Token": anna.csrf})
    gone = await client.get(anna.url("/tickets"))
    assert gone.status == 401 and (await gone.json())["error_id"] == "not-authenticated"


# -- bad input ----------------------------------------------------------------------------------------------


async def test_bad_input_gets_a_4xx_naming_the_problem_and_writes_nothing(anna: Api, client: TestClient) -> None:
    ticket = await anna.create()
    tid = ticket["id"]
    headers = {"X-CSRF-Token": anna.csrf, "Content-Type": "application/json"}
    before = await counts(client)
    raw_cases: list[tuple[str, str, bytes, int, str]] = [
        ("POST", "/tickets", b"{not json", 400, "invalid-json"),
        ("POST", "/tickets", b"", 400, "invalid-json"),
        ("POST", "/tickets", b"[1, 2]", 400, "invalid-request"),
        ("POST", "/tickets", '{"subject": "Müller"}'.encode("latin-1"), 400, "bad-encoding"),
        ("POST", "/tickets", b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}', 413, "request-entity-too-large"),
        ("POST", f"/tickets/{tid}/comments", b'{"text": "a\\u0000b"}', 400, "invalid-request"),
        ("POST", f"/tickets/{tid}/comments", b'{"text": "\\ud800"}', 400, "invalid-request"),
        ("PATCH", f"/tickets/{tid}", b'{"priority": 1}', 400, "invalid-request"),
    ]
    for method, path, body, status, error_id in raw_cases:
        response = await client.request(method, anna.url(path), data=io.BytesIO(body), headers=headers)
        payload = await response.json()
        assert (response.status, payload["error_id"]) == (status, error_id), (path, body[:40], payload)
        assert payload["message"] and "Traceback" not in json.dumps(payload)
    json_cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/tickets", {"channel": "fax", "subject": "x", "requester": {"name": "y"}}, 400, "channel"),
        ("POST", "/tickets", {"channel": "web", "subject": "x", "requester": {}}, 400, "requester"),
        ("POST", "/tickets", {"channel": "web", "subject": "", "requester": {"name": "y"}}, 400, "subject"),
        ("POST", "/tickets", {"channel": "web", "subject": "   ", "requester": {"name": "y"}}, 400, "blank"),
        ("PATCH", f"/tickets/{tid}", {"subject": " "}, 400, "blank"),
        ("POST", "/tickets", {"channel": "web", "subject": "x", "requester": {"name": "y"}, "vip": True}, 400, "vip"),
        ("POST", "/tickets", {"channel": "web", "subject": "x", "requester": {"email": "no mail"}}, 400, "email"),
        ("POST", "/tickets", {"channel": "web", "subject": 7, "requester": {"name": "y"}}, 400, "subject"),
        ("POST", "/tickets", {"channel": "web", "subject": "x", "requester": {"name": "y"}, "category_id": 999_999},
         400, "unknown category"),
        ("POST", "/tickets", {"channel": "web", "subject": "x", "requester": {"name": "y"}, "impact": 2},
         400, "need a category_id"),
        ("PATCH", f"/tickets/{tid}", {"impact": 6}, 400, "impact"),
        ("PATCH", f"/tickets/{tid}", {"category_id": 999_999, "subject": "neu"}, 400, "unknown category"),
        ("PATCH", f"/tickets/{tid}", {"subject": "x" * 201}, 400, "subject"),
        ("POST", f"/tickets/{tid}/status", {"status": "archived"}, 400, "status"),
        ("POST", f"/tickets/{tid}/status", {"status": "closed"}, 409, "from new to closed"),
        ("POST", f"/tickets/{tid}/status", {"status": "new"}, 409, "from new to new"),
        ("POST", f"/tickets/{tid}/reopen", {"reason": "x"}, 409, "from new to reopened"),
        ("POST", f"/tickets/{tid}/comments", {"text": ""}, 400, "text"),
        ("POST", f"/tickets/{tid}/comments", {"text": "x", "public": "maybe"}, 400, "public"),
        ("POST", f"/tickets/{tid}/assign", {}, 400, "agent_id"),
        ("POST", "/tickets/99999/comments", {"text": "x"}, 404, "no ticket"),
        ("POST", f"/tickets/{tid}/route", {"group": "Zweiter Level!", "reason": "x"}, 400, "group"),
    ]  # fmt: skip
    for method, path, body, status, named in json_cases:
        payload = await anna.call(method, anna.url(path), body, expect=status)
        assert payload["error_id"] and named in json.dumps(payload, ensure_ascii=False), (path, body, payload)
    for query, named in (
        ("limit=201", "limit"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("offset=1&cursor=abc", "offset or cursor"),
        ("cursor=abc", "cursor"),
        ("status=open", "status"),
        ("priority=9", "priority"),
        ("sort=subject", "sort"),
        ("category=999999", "unknown category"),
        ("created_from=yesterday", "created_from"),
        ("agent=everyone", "agent"),
        ("colour=red", "colour"),
        ("q=a&q=b", "more than once"),
    ):
        response = await client.get(anna.url("/tickets?" + query))
        payload = await response.json()
        assert response.status == 400, (query, payload)
        assert named in json.dumps(payload), (query, payload)
    assert await counts(client) == before
    after = (await anna.get(f"/tickets/{tid}"))["ticket"]
    assert after["updated_at"] == ticket["updated_at"]
    assert (after["subject"], after["status"], after["impact"]) == (ticket["subject"], "new", None)


# -- listing, search, filters, paging: SQLite and PostgreSQL -------------------------------------------------


async def _backdate(client: TestClient, ticket_id: int, when: datetime) -> None:
    async with app_of(client)[keys.DB].engine.begin() as conn:
        await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(created_at=when, updated_at=when))


async def test_list_filters_search_and_paging(app_client: TestClient) -> None:
    anna = await Api(app_client).login("anna")
    mueller = await _user_id(anna, "mueller")
    printer = await anna.category("hardware/printer")
    label = await anna.category("hardware/printer/label-printer")
    kis = await anna.category("kis")
    made = {
        "printer": await anna.create(subject="Toner leer", category_id=printer, impact=4, urgency=4,
                                     requester={"name": "Sabine Weiß", "number": "4731"}),
        "label": await anna.create(channel="phone", subject="Etiketten verschmiert", category_id=label,
                                   requester={"user_id": mueller}),
        "kis": await anna.create(channel="mail", subject="KIS langsam", category_id=kis, impact=1, urgency=1,
                                 requester={"name": "MÜLLER, Petra", "email": "p.mueller@example.org"}),
        "plain": await anna.create(subject="50% der Bildschirme_flackern", description="Straße 1, Haus C",
                                   requester={"name": "Anna-Lena Schröder"}),
    }  # fmt: skip
    ids = {name: t["id"] for name, t in made.items()}
    await anna.post(f"/tickets/{ids['plain']}/assign", {"agent_id": anna.account["id"]})
    await anna.post(f"/tickets/{ids['kis']}/resolve", {"resolution": "Index neu aufgebaut"})
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for offset, name in enumerate(("printer", "label", "kis", "plain")):
        await _backdate(app_client, ids[name], t0 + timedelta(days=offset))

    async def found(query: str) -> list[str]:
        payload = await anna.get("/tickets?" + query)
        by_id = {v: k for k, v in ids.items()}
        names = [by_id[t["id"]] for t in payload["tickets"]]
        assert payload["total"] == len(names), query
        return names

    assert await found("") == ["plain", "kis", "label", "printer"]  # newest first
    assert await found("sort=created_at") == ["printer", "label", "kis", "plain"]
    # case and umlauts folded both ways; every word must match somewhere
    assert sorted(await found("q=mueller")) == ["kis", "label"]
    assert sorted(await found("q=MÜLLER")) == ["kis", "label"]
    assert await found("q=weiss") == ["printer"]
    assert await found("q=strasse") == ["plain"]
    assert await found("q=schroeder+flackern") == ["plain"]
    assert await found("q=müller+toner") == []
    assert await found("q=" + made["kis"]["number"].lower()) == ["kis"]
    assert await found("q=4731") == ["printer"]
    assert await found("q=50%25") == ["plain"]  # LIKE wildcards are literal
    assert await found("q=n_flackern") == []
    assert await found("q=e_flackern") == ["plain"]
    assert await found("status=resolved") == ["kis"]
    assert await found("status=in_progress,resolved&sort=created_at") == ["printer", "label", "kis"]
    assert await found("status=new&status=resolved&sort=created_at") == ["kis", "plain"]
    assert await found("priority=1") == ["kis"]
    assert await found("priority=4&priority=1&sort=priority") == ["kis", "printer"]
    assert await found(f"category={printer}&sort=created_at") == ["printer", "label"]  # the subtree
    assert await found(f"category={label}") == ["label"]
    assert await found("group=1st_level&channel=phone") == ["label"]
    assert await found("channel=mail,phone&sort=created_at") == ["label", "kis"]
    assert await found("agent=me") == ["plain"]
    assert await found(f"agent={anna.account['id']}") == ["plain"]
    assert await found("agent=none&sort=created_at") == ["printer", "label", "kis"]
    assert await found(f"requester_user_id={mueller}") == ["label"]
    assert await found("requester_number=4731") == ["printer"]
    assert await found("created_from=2026-03-03&created_to=2026-03-05&sort=created_at") == ["label", "kis"]
    assert await found("created_from=2026-03-04T10:00:00%2B01:00") == ["plain", "kis"]
    assert await found("sort=priority") == ["kis", "label", "printer", "plain"]  # unprioritised last
    # paging: cursors walk every sort without a gap or a repeat, offsets too
    for sort in ("created_at", "-created_at", "updated_at", "-updated_at", "priority", "-priority"):
        everything = await found(f"sort={sort}")
        walked: list[str] = []
        cursor = None
        while True:
            page = await anna.get(f"/tickets?sort={sort}&limit=1" + (f"&cursor={cursor}" if cursor else ""))
            walked += [{v: k for k, v in ids.items()}[t["id"]] for t in page["tickets"]]
            assert page["total"] == 4
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert walked == everything, sort
    second = await anna.get("/tickets?sort=created_at&limit=2&offset=2")
    assert [t["id"] for t in second["tickets"]] == [ids["kis"], ids["plain"]] and second["total"] == 4
    foreign_cursor = (await anna.get("/tickets?sort=created_at&limit=1"))["next_cursor"]
    wrong = await anna.get(f"/tickets?sort=priority&cursor={foreign_cursor}", expect=400)
    assert "made for sort" in wrong["message"]


# -- pages --------------------------------------------------------------------------------------------------


async def test_ticket_pages_are_static_html_under_the_strict_csp(client: TestClient) -> None:
    for path in ("/tickets", f"/tickets/{TENANT_A}/1"):
        anonymous = await client.get(path, allow_redirects=False)
        assert anonymous.status == 302 and anonymous.headers["Location"] == "/login?" + urlencode({"next": path})
    await Api(client).login("anna")
    for path in ("/tickets", f"/tickets/{TENANT_A}/1"):
        page = await client.get(path)
        html = await page.text()
        assert page.status == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert '<script src="/static/tickets.js" defer></script>' in html
        assert "<script>" not in html and "style=" not in html and "<style" not in html
    console = await (await client.get("/console")).text()
    assert '<a href="/tickets" data-i18n="Tickets">Tickets</a>' in console
