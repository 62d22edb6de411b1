"""§ 203 StGB: every account acknowledges its confidentiality obligation before anything else works (pages go to
the acknowledgement first, the API answers 403), recorded with version and time; a new text asks again; API tokens
are not asked (programs; the admin who made the token is bound). SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.support.webapp import PASSWORD, TENANT_A
from tests.works_council.conftest import Browsers, audit_count, audit_rows, unacknowledge
from uhd_telephony.accounts import confidentiality
from uhd_telephony.accounts.models import Account
from uhd_telephony.security.tokens import TokenService
from uhd_telephony.store.db import Database

GATED = "confidentiality-not-acknowledged"


async def _login(client, username: str) -> dict:  # type: ignore[no-untyped-def]
    response = await client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return dict((await response.json())["account"])


async def test_nothing_works_before_the_acknowledgement_then_everything_does(web: tuple[Browsers, str]) -> None:
    browsers, url = web
    await unacknowledge(url, "anna")
    client = await browsers()
    account = await _login(client, "anna")
    assert account["confidentiality_acknowledged"] is False
    csrf = {"X-CSRF-Token": account["csrf_token"]}

    # pages: to the acknowledgement first, and back afterwards
    for page in ("/console", "/tickets", "/kpis"):
        found = await client.get(page, allow_redirects=False)
        assert found.status == 302 and found.headers["Location"] == "/confidentiality?next=" + page.replace("/", "%2F")
    assert (await client.get("/confidentiality")).status == 200
    # the API: 403 with words, in German by default
    refused = await client.get(f"/api/tenants/{TENANT_A}/tickets")
    body = await refused.json()
    assert refused.status == 403 and body["error_id"] == GATED
    assert "Verschwiegenheit" in body["text"] and "§ 203 StGB" in body["text"]
    assert (await client.post(f"/api/tenants/{TENANT_A}/tickets", json={}, headers=csrf)).status == 403
    # who am I, the text, the language and the logout stay open
    assert (await client.get("/api/me")).status == 200
    text = await (await client.get("/api/me/confidentiality")).json()
    assert text["version"] == confidentiality.VERSION and text["acknowledged"] is False
    assert text["text"]["de"].startswith("Verpflichtung zur Verschwiegenheit nach § 203 StGB")
    assert text["text"]["en"].startswith("Obligation of confidentiality")
    assert (await client.put("/api/me/locale", json={"locale": "de"}, headers=csrf)).status == 200

    # hostile and stale acknowledgements record nothing
    assert (await client.post("/api/me/confidentiality", json={"version": 1})).status == 403  # no CSRF token
    for bad in ({"version": "1"}, {"version": 0}, {"version": 1, "extra": 1}, {}, [1], {"version": 2**70}):
        response = await client.post("/api/me/confidentiality", json=bad, headers=csrf)
        assert response.status == 400, (bad, await response.text())
    stale = await client.post("/api/me/confidentiality", json={"version": confidentiality.VERSION + 1}, headers=csrf)
    assert stale.status == 409
    assert await audit_count(url, "confidentiality_ack") == 0

    done = await client.post("/api/me/confidentiality", json={"version": confidentiality.VERSION}, headers=csrf)
    assert done.status == 200 and (await done.json())["account"]["confidentiality_acknowledged"] is True
    again = await client.post("/api/me/confidentiality", json={"version": confidentiality.VERSION}, headers=csrf)
    assert again.status == 200
    rows = await audit_rows(url, "confidentiality_ack")
    assert len(rows) == 1 and rows[0].actor == "anna"  # the record: who, when, which text
    assert rows[0].details == {"version": confidentiality.VERSION, "digest": confidentiality.digest()}
    async with Database(url) as db, db.sessionmaker() as session:
        anna = await session.scalar(select(Account).where(Account.username == "anna"))
        assert anna is not None and anna.confidentiality_version == confidentiality.VERSION
        assert anna.confidentiality_at is not None and anna.confidentiality_at >= rows[0].at.replace(microsecond=0)

    assert (await client.get(f"/api/tenants/{TENANT_A}/tickets")).status == 200
    assert (await client.get("/console", allow_redirects=False)).status == 200
    shown = await (await client.get("/api/me/confidentiality")).json()
    assert shown["acknowledged"] is True and shown["acknowledged_at"].endswith("Z")


async def test_a_new_text_is_acknowledged_again(web: tuple[Browsers, str], monkeypatch: pytest.MonkeyPatch) -> None:
    browsers, _ = web
    client = await browsers()
    assert (await _login(client, "ben"))["confidentiality_acknowledged"] is True  # version 1, in the seed
    monkeypatch.setattr(confidentiality, "VERSION", confidentiality.VERSION + 1)
    refused = await client.get(f"/api/tenants/{TENANT_A}/tickets")
    assert refused.status == 403 and (await refused.json())["error_id"] == GATED
    assert (await (await client.get("/api/me")).json())["account"]["confidentiality_acknowledged"] is False


async def test_the_gate_holds_every_role_and_an_anonymous_visitor_logs_in_first(web: tuple[Browsers, str]) -> None:
    browsers, url = web
    anonymous = await browsers()
    found = await anonymous.get("/confidentiality", allow_redirects=False)
    assert found.status == 302 and found.headers["Location"].startswith("/login")
    assert (await anonymous.get("/api/me/confidentiality")).status == 401
    for name, path in (("olga", "/api/admin/accounts"), ("dora", f"/api/tenants/{TENANT_A}/audit")):
        await unacknowledge(url, name)
        client = await browsers()
        await _login(client, name)
        refused = await client.get(path)
        assert refused.status == 403 and (await refused.json())["error_id"] == GATED, name


async def test_api_tokens_are_not_asked(web: tuple[Browsers, str]) -> None:
    """A program cannot read the text: its token acts without it (the admin who made it has acknowledged)."""
    browsers, url = web
    async with Database(url) as db:
        anna = await db_account(db, "anna")
        issued = await TokenService(db).create(anna, name="ticket sync", scopes=["tickets:read"], created_by="olga")
    await unacknowledge(url, "anna")
    client = await browsers()
    response = await client.get(
        f"/api/tenants/{TENANT_A}/tickets", headers={"Authorization": f"Bearer {issued.secret}"}
    )
    assert response.status == 200, await response.text()


async def db_account(db: Database, username: str) -> int:
    async with db.sessionmaker() as session:
        found = await session.scalar(select(Account.id).where(Account.username == username))
    assert found is not None
    return int(found)


def test_the_wording_of_each_version_is_fixed() -> None:
    """A change of the text is a new version (every account acknowledges again): edit both together."""
    versions = {1: "4c998c19ea206abd11501d3f014152819bd5f23f241564db6a6e7f2686cf7469"}
    assert confidentiality.digest() == versions[confidentiality.VERSION]
