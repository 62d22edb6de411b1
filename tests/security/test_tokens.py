"""API tokens: their format, what is stored, scopes and tenants, revocation at once, and what a partner may do."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from tests.security.conftest import PARTNER_GROUP, World, app_db, bearer, browser, login, row_counts
from tests.support.webapp import TENANT_A, TENANT_B
from uhd_telephony.errors import Conflict, InvalidInput
from uhd_telephony.security.models import ApiToken
from uhd_telephony.security.tokens import TOKEN_RE, TokenService

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

A = f"/api/tenants/{TENANT_A}"


async def test_a_token_is_uhd_id_secret_and_only_its_sha256_is_stored(client: TestClient, world: World) -> None:
    token = world.tokens["partner"]
    match = TOKEN_RE.fullmatch(token)
    assert match is not None and int(match.group(1)) == world.ids["token_partner"]
    assert len(match.group(2)) == 43  # 32 random bytes, url-safe base64
    async with app_db(client).sessionmaker() as session:
        stored = await session.scalar(select(ApiToken).where(ApiToken.id == world.ids["token_partner"]))
    assert stored is not None
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert match.group(2) not in repr(stored.__dict__)


async def test_a_bearer_token_needs_no_csrf_token_and_a_bad_one_is_401_even_beside_a_cookie(
    client: TestClient, world: World
) -> None:
    created = await client.post(
        A + "/tickets",
        json={"channel": "web", "subject": "vom Dienst", "requester": {"name": "Maschine"}},
        headers=bearer(world.tokens["token"]),
    )
    assert created.status == 201, await created.text()
    anna = await browser(client)
    try:
        await login(anna, "anna")
        good = world.tokens["token"]
        changed = good[:-1] + ("B" if good.endswith("A") else "A")  # one character off
        for bad in ("uhd_1_" + "x" * 43, changed, "nonsense", ""):
            response = await anna.get(A + "/tickets", headers={"Authorization": f"Bearer {bad}"})
            assert response.status == 401, bad
            assert (await response.json())["error_id"] == "invalid-token"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        basic = await anna.get(A + "/tickets", headers={"Authorization": "Basic YW5uYTpwdw=="})
        assert basic.status == 401
    finally:
        await anna.session.close()


async def test_revocation_and_deactivation_take_effect_with_the_next_request(client: TestClient, world: World) -> None:
    headers = bearer(world.tokens["token"])
    assert (await client.get(A + "/tickets", headers=headers)).status == 200
    olga = await browser(client)
    try:
        csrf = await login(olga, "olga")
        revoked = await olga.delete(f"/api/admin/tokens/{world.ids['token_token']}", headers={"X-CSRF-Token": csrf})
        assert revoked.status == 200 and (await revoked.json())["token"]["revoked_at"]
        assert (await client.get(A + "/tickets", headers=headers)).status == 401
        partner = bearer(world.tokens["partner"])
        assert (await client.get(A + "/tickets", headers=partner)).status == 200
        gone = await olga.post(
            f"/api/admin/accounts/{world.ids['acme']}/deactivate", json={}, headers={"X-CSRF-Token": csrf}
        )
        assert gone.status == 200
        assert (await client.get(A + "/tickets", headers=partner)).status == 401
    finally:
        await olga.session.close()


async def test_an_expired_token_is_refused_and_last_use_is_recorded(client: TestClient, world: World) -> None:
    headers = bearer(world.tokens["token"])
    assert (await client.get("/api/me", headers=headers)).status == 200
    db = app_db(client)
    async with db.sessionmaker() as session:
        row = await session.get(ApiToken, world.ids["token_token"])
        assert row is not None and row.last_used_at is not None
        await session.execute(
            update(ApiToken).where(ApiToken.id == row.id).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    assert (await client.get("/api/me", headers=headers)).status == 401


async def test_a_token_acts_within_its_scopes_and_tenants(client: TestClient, world: World) -> None:
    tokens = TokenService(app_db(client))
    only_a = await tokens.create(world.ids["ben"], name="A only", scopes=["tickets:read"], tenants=[TENANT_A])
    headers = bearer(only_a.secret)
    me = await (await client.get("/api/me", headers=headers)).json()
    assert me["account"]["tenants"] == [TENANT_A] and me["account"]["token"]["scopes"] == ["tickets:read"]
    assert (await client.get(A + "/tickets", headers=headers)).status == 200
    refused = await client.post(A + "/tickets", json={}, headers=headers)
    assert refused.status == 403 and (await refused.json())["details"] == {"scope": "tickets:write"}
    assert (await client.get(f"/api/tenants/{TENANT_B}/tickets", headers=headers)).status == 404
    with pytest.raises(InvalidInput):  # not a tenant of ben's
        await tokens.create(world.ids["ben"], name="B", scopes=["tickets:read"], tenants=[TENANT_B])
    with pytest.raises(InvalidInput):
        await tokens.create(world.ids["ben"], name="bad scope", scopes=["admin"])
    with pytest.raises(InvalidInput):  # a partner reads and works tickets, nothing else
        await tokens.create(world.ids["acme"], name="kpis", scopes=["kpis:read"])
    with pytest.raises(Conflict):  # an admin's power stays behind a login
        await tokens.create(world.ids["olga"], name="root", scopes=["tickets:read"])


async def test_a_managers_token_with_kpis_read_fetches_the_monthly_report(client: TestClient, world: World) -> None:
    tokens = TokenService(app_db(client))
    reporting = await tokens.create(world.ids["maria"], name="monthly job", scopes=["kpis:read"])
    tickets_only = await tokens.create(world.ids["maria"], name="tickets", scopes=["tickets:read"])
    url = A + "/reports/2026-11?format=csv"
    ok = await client.get(url, headers=bearer(reporting.secret))
    assert ok.status == 200 and ok.headers["Content-Disposition"].startswith("attachment")
    refused = await client.get(url, headers=bearer(tickets_only.secret))
    assert refused.status == 403 and (await refused.json())["details"] == {"scope": "kpis:read"}
    # an agent's token with the scope is still refused by the role; another tenant's report stays hidden
    assert (await client.get(url, headers=bearer(world.tokens["token"]))).status == 403
    foreign = await client.get(f"/api/tenants/{TENANT_B}/reports/2026-11", headers=bearer(reporting.secret))
    assert foreign.status == 404


async def test_tokens_are_refused_by_the_console_its_socket_and_the_admin_api(client: TestClient, world: World) -> None:
    headers = bearer(world.tokens["token"])
    for method, path in (
        ("GET", A + "/callbacks"),
        ("GET", "/ws/console"),
        ("GET", "/api/admin/accounts"),
        ("POST", "/api/logout"),
    ):
        response = await client.request(method, path, headers=headers)
        assert response.status == 403, (method, path)
        assert (await response.json())["message"] == "API tokens are not accepted here"


# -- the partner ----------------------------------------------------------------------------------------------


async def test_a_partner_sees_only_the_tickets_routed_to_its_group(client: TestClient, world: World) -> None:
    headers = bearer(world.tokens["partner"])
    listed = await (await client.get(A + "/tickets", headers=headers)).json()
    assert [t["id"] for t in listed["tickets"]] == [world.ids["ticket_a"]] and listed["total"] == 1
    assert listed["tickets"][0]["support_group"] == PARTNER_GROUP
    other_group = await (await client.get(A + "/tickets?group=1st_level", headers=headers)).json()
    assert other_group["tickets"] == [] and other_group["total"] == 0
    plain = world.ids["ticket_plain"]
    for path in (
        f"/tickets/{plain}",
        f"/tickets/{plain}/history",
        f"/tickets/by-number/{world.numbers['ticket_plain']}",
    ):
        response = await client.get(A + path, headers=headers)
        assert response.status == 404, path
    missing = await client.get(A + "/tickets/999999", headers=headers)
    unrouted = await client.get(A + f"/tickets/{plain}", headers=headers)
    assert (await missing.json())["message"].replace("999999", "N") == (await unrouted.json())["message"].replace(
        str(plain), "N"
    )
    assert (await client.get(A + f"/tickets/{world.ids['ticket_a']}/history", headers=headers)).status == 200


async def test_a_partner_comments_and_moves_its_tickets_but_never_closes_or_reopens(
    client: TestClient, world: World
) -> None:
    headers = bearer(world.tokens["partner"])
    one = A + f"/tickets/{world.ids['ticket_a']}"
    comment = await client.post(one + "/comments", json={"text": "Techniker ist unterwegs"}, headers=headers)
    assert comment.status == 201, await comment.text()
    assert (await comment.json())["entry"]["actor"] == f"partner:{world.ids['acme']}"
    assert (await client.post(one + "/status", json={"status": "in_progress"}, headers=headers)).status == 200
    assert (await client.post(one + "/status", json={"status": "waiting"}, headers=headers)).status == 200
    assert (
        await client.post(one + "/resolve", json={"resolution": "Treiber getauscht"}, headers=headers)
    ).status == 200
    before = await row_counts(app_db(client))
    for path, body in (
        ("/status", {"status": "closed"}),
        ("/close", {"note": "x"}),
        ("/reopen", {"reason": "x"}),
        ("/status", {"status": "reopened", "note": "x"}),
        ("/assign", {"agent_id": None}),
        ("/route", {"group": "2nd_level", "reason": "x"}),
    ):
        response = await client.post(one + path, json=body, headers=headers)
        assert response.status == 403, (path, body, await response.text())
    patched = await client.patch(one, json={"subject": "x"}, headers=headers)
    assert patched.status == 403
    plain = A + f"/tickets/{world.ids['ticket_plain']}"
    assert (await client.post(plain + "/comments", json={"text": "x"}, headers=headers)).status == 404
    assert (await client.post(plain + "/status", json={"status": "in_progress"}, headers=headers)).status == 404
    assert await row_counts(app_db(client)) == before


async def test_a_partner_cannot_log_in_with_a_password(client: TestClient) -> None:
    response = await client.post("/api/login", json={"username": "acme", "password": "correct horse battery"})
    assert response.status == 403
    assert "token" in (await response.json())["message"]
