"""Reads of personal data are audited (who read whose data, when) and the tenant's data-protection officer reads
that log — its own tenants' only, and nothing of the helpdesk's work. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B
from tests.works_council.conftest import Browsers, audit_count, audit_rows
from uhd_telephony.audit import reads
from uhd_telephony.audit.log import AuditAction, AuditLog
from uhd_telephony.directory.models import DirectoryUser
from uhd_telephony.store.db import Database

READ = "requester_read"


async def _login(client: TestClient, username: str) -> dict[str, str]:
    response = await client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return {"X-CSRF-Token": (await response.json())["account"]["csrf_token"]}


async def _user_id(url: str, tenant: str) -> int:
    async with Database(url) as db, db.sessionmaker() as session:
        found = await session.scalar(select(DirectoryUser.id).where(DirectoryUser.tenant == tenant).limit(1))
    assert found is not None
    return int(found)


async def _ticket(client: TestClient, csrf: dict[str, str], tenant: str, body: dict[str, Any]) -> dict[str, Any]:
    made = await client.post(f"/api/tenants/{tenant}/tickets", json={"channel": "phone", "subject": "PC", **body},
                             headers=csrf)  # fmt: skip
    assert made.status == 201, await made.text()
    return dict((await made.json())["ticket"])


async def test_reads_of_requester_details_are_audited_writes_are_not(web: tuple[Browsers, str]) -> None:
    browsers, url = web
    anna = await browsers()
    csrf = await _login(anna, "anna")
    person = await _user_id(url, TENANT_A)
    known = await _ticket(anna, csrf, TENANT_A, {"requester": {"user_id": person}})
    free = await _ticket(anna, csrf, TENANT_A, {"requester": {"name": "Eva Roth", "number": "0231 555"}})
    comment = await anna.post(f"/api/tenants/{TENANT_A}/tickets/{free['id']}/comments", json={"text": "läuft"},
                              headers=csrf)  # fmt: skip
    assert comment.status == 201
    assert await audit_count(url, READ) == 0  # creating and commenting are work, recorded in the ticket's history

    reads_of = (
        f"/api/tenants/{TENANT_A}/tickets/{known['id']}",
        f"/api/tenants/{TENANT_A}/tickets/{known['id']}/history",
        f"/api/tenants/{TENANT_A}/tickets/by-number/{known['number']}",
    )
    for path in reads_of:
        assert (await anna.get(path)).status == 200, path
    listed = await anna.get(f"/api/tenants/{TENANT_A}/tickets")
    assert listed.status == 200 and len((await listed.json())["tickets"]) == 2
    rows = await audit_rows(url, READ)
    assert len(rows) == 4  # one per answer, the list too
    for row in rows[:3]:
        assert row.actor == "anna" and row.tenant == TENANT_A and row.target == f"ticket:{known['id']}"
        assert row.details["subjects"] == [f"ticket:{known['id']}", f"person:{person}"]
    assert row.ip is not None
    assert sorted(rows[3].details["subjects"]) == sorted([f"ticket:{known['id']}", f"ticket:{free['id']}",
                                                          f"person:{person}"])  # fmt: skip
    stored = " ".join(str(r.details) for r in rows)
    assert "Eva Roth" not in stored and "0231" not in stored  # whose data, never the data itself

    # an answer that shows nobody writes nothing; a refused read neither
    empty = await anna.get(f"/api/tenants/{TENANT_A}/tickets?q=nichtsdergleichen")
    assert empty.status == 200 and (await empty.json())["tickets"] == []
    assert (await anna.get(f"/api/tenants/{TENANT_B}/tickets")).status == 404
    assert (await anna.get(f"/api/tenants/{TENANT_A}/tickets/999999")).status == 404
    assert await audit_count(url, READ) == 4


async def test_the_data_protection_officer_reads_its_tenants_log_only(web: tuple[Browsers, str]) -> None:
    browsers, _ = web
    anna, carl, dora, olga = [await browsers() for _ in range(4)]
    csrf_a = await _login(anna, "anna")
    mine = await _ticket(anna, csrf_a, TENANT_A, {"requester": {"name": "Eva Roth"}})
    assert (await anna.get(f"/api/tenants/{TENANT_A}/tickets/{mine['id']}")).status == 200
    csrf_c = await _login(carl, "carl")
    theirs = await _ticket(carl, csrf_c, TENANT_B, {"requester": {"name": "Max Sued"}})
    assert (await carl.get(f"/api/tenants/{TENANT_B}/tickets/{theirs['id']}")).status == 200

    await _login(dora, "dora")
    log = await dora.get(f"/api/tenants/{TENANT_A}/audit")
    assert log.status == 200, await log.text()
    entries = (await log.json())["entries"]
    assert [e["actor"] for e in entries] == ["anna"] and entries[0]["action"] == READ
    assert entries[0]["details"]["subjects"] == [f"ticket:{mine['id']}"] and entries[0]["at"].endswith("Z")
    # tenant B's log, tickets, KPIs: nothing of them for tenant A's officer — and no ticket work either
    assert (await dora.get(f"/api/tenants/{TENANT_B}/audit")).status == 404
    a = f"/api/tenants/{TENANT_A}"
    for path in (f"{a}/tickets", f"{a}/tickets/{mine['id']}", f"{a}/kpis", f"{a}/callbacks", "/api/admin/audit"):
        assert (await dora.get(path)).status == 403, path
    assert (await dora.get("/console", allow_redirects=False)).status == 403
    # an agent does not read the log; the operator's admin reads every tenant's
    assert (await anna.get(f"/api/tenants/{TENANT_A}/audit")).status == 403
    await _login(olga, "olga")
    b_log = await (await olga.get(f"/api/tenants/{TENANT_B}/audit")).json()
    assert [e["details"]["subjects"] for e in b_log["entries"]] == [[f"ticket:{theirs['id']}"]]


async def test_filters_and_hostile_queries(web: tuple[Browsers, str]) -> None:
    browsers, url = web
    async with Database(url) as db:
        audit = AuditLog(db)
        for actor, subjects in (("anna", ["ticket:1", "person:7"]), ("ben", ["ticket:12"]), ("anna", ["call:17.2"])):
            action = AuditAction.CALLS_READ if subjects[0].startswith("call") else AuditAction.REQUESTER_READ
            await reads.record_read(audit, action, actor=actor, tenant=TENANT_A, subjects=subjects, ip=None)
        await reads.record_read(audit, AuditAction.REQUESTER_READ, actor="anna", tenant=TENANT_A, subjects=[], ip=None)
    dora = await browsers()
    await _login(dora, "dora")
    base = f"/api/tenants/{TENANT_A}/audit"

    async def subjects(**query: str) -> list[list[str]]:
        response = await dora.get(base, params=query)
        assert response.status == 200, await response.text()
        return [e["details"]["subjects"] for e in (await response.json())["entries"]]

    assert await subjects() == [["call:17.2"], ["ticket:12"], ["ticket:1", "person:7"]]  # newest first; [] wrote none
    assert await subjects(actor="ben") == [["ticket:12"]]
    assert await subjects(data_subject="ticket:1") == [["ticket:1", "person:7"]]  # not ticket:12
    assert await subjects(data_subject="person:7") == [["ticket:1", "person:7"]]
    assert await subjects(action="calls_read") == [["call:17.2"]]
    assert await subjects(**{"from": "2000-01-01", "to": "2000-01-31"}) == []
    page = await (await dora.get(base, params={"limit": "2"})).json()
    assert len(page["entries"]) == 2 and page["next_before"] is not None
    rest = await subjects(limit="2", before=str(page["next_before"]))
    assert rest == [["ticket:1", "person:7"]]
    for bad in ({"data_subject": "ticket:%"}, {"data_subject": "x' OR 1=1 --"}, {"data_subject": "ticket:_"},
                {"from": "2026-01-01"}, {"from": "gestern", "to": "heute"}, {"actor": "a\x00b"}, {"limit": "0"},
                {"action": "drop_table"}, {"before": "-1"}, {"tenant": TENANT_B}):  # fmt: skip
        response = await dora.get(base, params=bad)
        assert response.status == 400, (bad, await response.text())
        assert "text" in await response.json()
    assert (await dora.get(base + "?actor=anna&actor=ben")).status == 400
