"""The console's directory search and a major incident's detail show people's data: each answer is one audit entry
under its tenant (who, the directory ids, tickets and subscriptions shown — never the search text, a name or a
number), which that tenant's data-protection officer reads and no other tenant's. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B
from tests.works_council.conftest import Browsers, audit_count, audit_rows, make_account
from uhd_telephony.directory.models import DirectoryUser
from uhd_telephony.incidents import phone
from uhd_telephony.privacy.rules import subscriptions
from uhd_telephony.store.db import Database

DIRECTORY = "directory_read"
INCIDENT = "incident_read"


async def _login(client: TestClient, username: str) -> dict[str, str]:
    response = await client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return {"X-CSRF-Token": (await response.json())["account"]["csrf_token"]}


async def _log(client: TestClient, tenant: str, **query: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/tenants/{tenant}/audit", params=query)
    assert response.status == 200, await response.text()
    return list((await response.json())["entries"])


async def test_a_directory_search_records_whom_it_showed(web: tuple[Browsers, str]) -> None:
    browsers, url = web
    await make_account(url, "bert", "dpo", [TENANT_B])
    anna, carl, dora, bert = [await browsers() for _ in range(4)]
    await _login(anna, "anna")
    found = await anna.get(f"/api/tenants/{TENANT_A}/directory/search", params={"q": "Müller"})
    assert found.status == 200
    users = (await found.json())["users"]
    assert users and any(u["name"] == "Dr. Jürgen Müller" for u in users)
    rows = await audit_rows(url, DIRECTORY)
    assert len(rows) == 1
    row = rows[0]
    assert (row.actor, row.tenant, row.target) == ("anna", TENANT_A, None) and row.ip
    assert row.details == {"subjects": [f"person:{u['id']}" for u in users], "count": len(users)}
    assert "Müller" not in str(row.details) and "0231" not in str(row.details)  # whom, never the query or data

    # nobody shown, too short a text, another tenant's directory: nothing recorded
    for params, tenant, status in (({"q": "Niemandhiervonuns"}, TENANT_A, 200), ({"q": "M"}, TENANT_A, 200),
                                   ({"q": "Müller"}, TENANT_B, 404)):  # fmt: skip
        response = await anna.get(f"/api/tenants/{tenant}/directory/search", params=params)
        assert response.status == status, params
        if status == 200:
            assert (await response.json())["users"] == []
    assert await audit_count(url, DIRECTORY) == 1

    await _login(carl, "carl")
    assert (await carl.get(f"/api/tenants/{TENANT_B}/directory/search", params={"q": "Müller"})).status == 200
    assert await audit_count(url, DIRECTORY) == 2

    # tenant A's officer sees anna's search, not carl's; tenant B's officer the other way round
    await _login(dora, "dora")
    mine = await _log(dora, TENANT_A, action=DIRECTORY)
    assert [(e["actor"], e["details"]["subjects"]) for e in mine] == [("anna", row.details["subjects"])]
    assert (await dora.get(f"/api/tenants/{TENANT_B}/audit")).status == 404
    await _login(bert, "bert")
    theirs = await _log(bert, TENANT_B, action=DIRECTORY)
    assert [e["actor"] for e in theirs] == ["carl"]
    assert (await bert.get(f"/api/tenants/{TENANT_A}/audit")).status == 404
    # the same directory id filter finds the read in A's log only
    first = row.details["subjects"][0]
    assert [e["actor"] for e in await _log(dora, TENANT_A, data_subject=first)] == ["anna"]


async def _person(url: str, tenant: str, name: str) -> int:
    async with Database(url) as db, db.sessionmaker() as session:
        found = await session.scalar(
            select(DirectoryUser.id).where(DirectoryUser.tenant == tenant, DirectoryUser.name == name)
        )
    assert found is not None
    return int(found)


async def _subscribe(url: str, tenant: str, incident_id: int, number: str, name: str, user_id: int | None) -> int:
    async with Database(url) as db:
        caller = phone.Subscriber(number=number, name=name, email=None, linkedid=f"call-{number}", user_id=user_id)
        made = await phone.subscribe(db, tenant, [incident_id], caller, datetime.now(UTC))
    assert made
    async with Database(url) as db, db.engine.connect() as conn:
        stmt = select(subscriptions.c.id).where(subscriptions.c.incident_id == incident_id,
                                                subscriptions.c.tenant == tenant)  # fmt: skip
        return int((await conn.execute(stmt.order_by(subscriptions.c.id.desc()))).scalars().first())


async def test_a_major_incidents_callers_are_an_audited_read(web: tuple[Browsers, str]) -> None:
    browsers, url = web
    await make_account(url, "bert", "dpo", [TENANT_B])
    anna, carl, dora, bert = [await browsers() for _ in range(4)]
    csrf = await _login(anna, "anna")
    a = f"/api/tenants/{TENANT_A}"
    made = await anna.post(a + "/tickets", json={"channel": "phone", "subject": "KIS", "requester": {
        "name": "Eva Roth", "number": "0231 555"}}, headers=csrf)  # fmt: skip
    assert made.status == 201
    ticket = (await made.json())["ticket"]
    declared = await anna.post(a + "/incidents", json={"title": "KIS ausgefallen", "caller_message": "Gestört."},
                               headers=csrf)  # fmt: skip
    assert declared.status == 201, await declared.text()
    incident = (await declared.json())["incident"]
    linked = await anna.post(f"{a}/incidents/{incident['id']}/tickets/{ticket['id']}", headers=csrf)
    assert linked.status in (200, 201), await linked.text()
    mueller = await _person(url, TENANT_A, "Dr. Jürgen Müller")
    subscription = await _subscribe(url, TENANT_A, incident["id"], "+4923198605720", "Dr. Jürgen Müller", mueller)
    before = await audit_count(url, INCIDENT)

    detail = await anna.get(f"{a}/incidents/{incident['id']}")
    assert detail.status == 200
    body = await detail.json()
    assert body["subscribers"] and any(t["id"] == ticket["id"] for t in body["tickets"])
    rows = await audit_rows(url, INCIDENT)
    assert len(rows) == before + 1
    row = rows[-1]
    assert (row.actor, row.tenant, row.target) == ("anna", TENANT_A, f"incident:{incident['id']}")
    subjects = row.details["subjects"]
    assert f"ticket:{ticket['id']}" in subjects and f"subscription:{subscription}" in subjects
    assert row.details["count"] == len(body["tickets"]) + len(body["subscribers"])
    assert "Eva Roth" not in str(row.details) and "0231" not in str(row.details) and "Müller" not in str(row.details)

    # another tenant's agent does not get it, and nothing is recorded for that
    await _login(carl, "carl")
    assert (await carl.get(f"{a}/incidents/{incident['id']}")).status == 404
    assert await audit_count(url, INCIDENT) == before + 1

    await _login(dora, "dora")
    entries = await _log(dora, TENANT_A, action=INCIDENT)
    assert [e["actor"] for e in entries] == ["anna"] and entries[0]["details"]["subjects"] == subjects
    found = await _log(dora, TENANT_A, data_subject=f"subscription:{subscription}")
    assert [e["action"] for e in found] == [INCIDENT]
    await _login(bert, "bert")
    assert await _log(bert, TENANT_B, action=INCIDENT) == []
    assert (await bert.get(f"/api/tenants/{TENANT_A}/audit")).status == 404
