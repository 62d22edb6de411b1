"""The admin API: accounts, roles, tenants, tokens and the audit log, each change audited; admins only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.security.conftest import World, bearer, browser, login
from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


@dataclass
class Admin:
    client: TestClient
    csrf: str

    async def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = await self.client.request(method, path, json=body, headers={"X-CSRF-Token": self.csrf})
        payload = await response.json()
        assert response.status == expect, (method, path, response.status, payload)
        return payload


@pytest.fixture
async def admin(client: TestClient) -> AsyncIterator[Admin]:
    olga = await browser(client)
    try:
        yield Admin(olga, await login(olga, "olga"))
    finally:
        await olga.session.close()


async def test_an_admin_adds_a_tenant_an_agent_and_changes_its_role_and_tenants(
    client: TestClient, admin: Admin
) -> None:
    tenant = await admin.call(
        "POST",
        "/api/admin/tenants",
        {"tenant": "klinikum-west", "name": "Klinikum West", "hotlines": [{"number": "0231 990003", "queue": "west"}]},
        expect=201,
    )
    assert tenant["tenant"]["hotlines"] == [{"number": "+49231990003", "queue": "west"}]
    assert tenant["tenant"]["time_zone"] == "Europe/Berlin" and tenant["tenant"]["region"] == "DE"
    await admin.call("POST", "/api/admin/tenants", {"tenant": "klinikum-west", "name": "again"}, expect=409)
    taken = {"tenant": "klinikum-ost", "name": "Ost", "hotlines": [{"number": "+49231990003", "queue": "ost"}]}
    await admin.call("POST", "/api/admin/tenants", taken, expect=409)
    listed = await admin.call("GET", "/api/admin/tenants")
    assert [t["tenant"] for t in listed["tenants"]] == [TENANT_A, TENANT_B, "klinikum-west"]

    body = {"username": "dora", "password": PASSWORD, "role": "agent", "tenants": ["klinikum-west"]}
    dora = (await admin.call("POST", "/api/admin/accounts", body, expect=201))["account"]
    assert dora["role"] == "agent" and dora["tenants"] == ["klinikum-west"]
    await admin.call("POST", "/api/admin/accounts", body, expect=409)  # the username is taken
    unknown = {**body, "username": "erik", "tenants": ["klinikum-nrod"]}  # a typo grants nothing
    refused = await admin.call("POST", "/api/admin/accounts", unknown, expect=400)
    assert refused["details"]["unknown"] == ["klinikum-nrod"]

    one = f"/api/admin/accounts/{dora['id']}"
    changed = await admin.call("PATCH", one, {"role": "manager", "tenants": ["klinikum-west", TENANT_A]})
    assert changed["account"]["role"] == "manager" and changed["account"]["tenants"] == [TENANT_A, "klinikum-west"]
    await admin.call("PATCH", one, {"role": "partner"}, expect=400)  # a partner needs its group
    partner = await admin.call("PATCH", one, {"role": "partner", "partner_group": "partner:medtech"})
    assert partner["account"]["partner_group"] == "partner:medtech"
    back = await admin.call("PATCH", one, {"role": "agent"})
    assert back["account"]["partner_group"] is None
    await admin.call("PATCH", one, {}, expect=400)

    entries = (await admin.call("GET", "/api/admin/audit?limit=20"))["entries"]
    actions = [e["action"] for e in reversed(entries)]
    assert actions[-6:] == [
        "tenant_added",
        "account_created",
        "role_changed",
        "tenants_changed",
        "role_changed",
        "role_changed",
    ]
    created = next(e for e in entries if e["action"] == "account_created")
    assert created["actor"] == "olga" and created["target"] == f"account:{dora['id']} dora"
    assert created["details"]["tenants"] == ["klinikum-west"]
    tenants_changed = next(e for e in entries if e["action"] == "tenants_changed")
    assert tenants_changed["details"] == {"from": ["klinikum-west"], "to": [TENANT_A, "klinikum-west"]}


async def test_deactivating_an_account_ends_its_session_at_once(client: TestClient, admin: Admin, world: World) -> None:
    ben = await browser(client)
    try:
        await login(ben, "ben")
        assert (await ben.get("/api/me")).status == 200
        gone = await admin.call("POST", f"/api/admin/accounts/{world.ids['ben']}/deactivate", {})
        assert gone["account"]["active"] is False
        assert (await ben.get("/api/me")).status == 401
        assert (await ben.post("/api/login", json={"username": "ben", "password": PASSWORD})).status == 401
    finally:
        await ben.session.close()
    entries = (await admin.call("GET", "/api/admin/audit?action=account_deactivated"))["entries"]
    assert [e["target"] for e in entries] == [f"account:{world.ids['ben']} ben"]


async def test_an_admin_cannot_demote_or_deactivate_itself(admin: Admin, world: World) -> None:
    me = f"/api/admin/accounts/{world.ids['olga']}"
    await admin.call("POST", me + "/deactivate", {}, expect=409)
    await admin.call("PATCH", me, {"role": "agent"}, expect=409)
    await admin.call("PATCH", me, {"active": False}, expect=409)
    await admin.call("PATCH", me, {"display_name": "Olga O."})


async def test_a_token_is_shown_once_listed_without_its_secret_and_revoked(
    client: TestClient, admin: Admin, world: World
) -> None:
    path = f"/api/admin/accounts/{world.ids['acme']}/tokens"
    made = await admin.call(
        "POST", path, {"name": "acme ticket sync", "scopes": ["tickets:read"], "expires_in_days": 30}, expect=201
    )
    secret = made["secret"]
    assert secret.startswith(f"uhd_{made['token']['id']}_") and made["token"]["expires_at"]
    listed = await admin.call("GET", path)
    assert secret not in str(listed) and made["token"]["id"] in [t["id"] for t in listed["tokens"]]
    assert (await client.get(f"/api/tenants/{TENANT_A}/tickets", headers=bearer(secret))).status == 200
    await admin.call("DELETE", f"/api/admin/tokens/{made['token']['id']}")
    assert (await client.get(f"/api/tenants/{TENANT_A}/tickets", headers=bearer(secret))).status == 401
    await admin.call("DELETE", "/api/admin/tokens/999999", expect=404)
    root = {"name": "root", "scopes": ["tickets:read"]}
    await admin.call("POST", f"/api/admin/accounts/{world.ids['olga']}/tokens", root, expect=409)  # no admin tokens
    entries = (await admin.call("GET", "/api/admin/audit"))["entries"]
    # (the token's read of the ticket list between them is audited too: requester_read, issue 20)
    assert [e["action"] for e in entries if e["action"].startswith("token_")][:2] == ["token_revoked", "token_created"]
    assert "requester_read" in [e["action"] for e in entries]
    assert secret not in str(entries)


async def test_the_audit_log_pages_newest_first(client: TestClient, admin: Admin) -> None:
    for _ in range(5):
        await client.post("/api/login", json={"username": "anna", "password": "falsch"})
    first = await admin.call("GET", "/api/admin/audit?limit=2&action=login_failed")
    assert len(first["entries"]) == 2 and first["next_before"] == first["entries"][-1]["id"]
    seen = [e["id"] for e in first["entries"]]
    before = first["next_before"]
    while before is not None:
        page = await admin.call("GET", f"/api/admin/audit?limit=2&action=login_failed&before={before}")
        seen += [e["id"] for e in page["entries"]]
        before = page["next_before"]
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    await admin.call("GET", "/api/admin/audit?limit=0", expect=400)
    await admin.call("GET", "/api/admin/audit?action=nonsense", expect=400)


async def test_only_admins_reach_the_admin_api(client: TestClient, world: World) -> None:
    anna = await browser(client)
    try:
        csrf = await login(anna, "anna")
        for method, path in (
            ("GET", "/api/admin/audit"),
            ("POST", "/api/admin/accounts"),
            ("GET", "/api/admin/tenants"),
        ):
            response = await anna.request(method, path, json={}, headers={"X-CSRF-Token": csrf})
            assert response.status == 403, path
    finally:
        await anna.session.close()
