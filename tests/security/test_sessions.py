"""Issue 15 (1, 2): a login ends on the server, not only in the browser; a role change never widens a token.

A copy of the session cookie taken before a logout, a deactivation, a new password or a new role is replayed
from another cookie jar: it must be 401 everywhere (``/api/me``, which would hand out the CSRF token, and a
write). A partner token stops working once its account becomes an agent (it would read the whole tenant).
On SQLite and PostgreSQL (``db_url``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient
from sqlalchemy import event, select, update

from tests.security.conftest import FakeAmi, World, app_db, bearer, build_world, login
from tests.support.webapp import TENANT_A, web_settings
from uhd_telephony.accounts.models import Account
from uhd_telephony.app.web import init_app
from uhd_telephony.audit.models import AuditEntry
from uhd_telephony.security.models import AccountSession, ApiToken
from uhd_telephony.web import keys

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

A = f"/api/tenants/{TENANT_A}"
COOKIE = "uhd_session"


@pytest.fixture
async def seeded(db_url: str) -> World:
    return await build_world(db_url)


@pytest.fixture
async def client(seeded: World, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    yield await aiohttp_client(init_app(web_settings(seeded.url), ami=lambda: FakeAmi()))


@pytest.fixture
async def thief(client: TestClient) -> AsyncIterator[TestClient]:
    """Another browser on the same server, with an empty cookie jar: it replays a copied cookie by hand."""
    other = TestClient(client.server, cookie_jar=CookieJar(unsafe=True))
    await other.start_server()
    yield other
    await other.session.close()


async def browser(client: TestClient) -> TestClient:
    other = TestClient(client.server, cookie_jar=CookieJar(unsafe=True))
    await other.start_server()
    return other


def saved_cookie(client: TestClient) -> str:
    """The session cookie as the browser holds it now (what an attacker or a backup would keep)."""
    values = [m.value for m in client.session.cookie_jar if m.key == COOKIE]
    assert len(values) == 1, values
    return values[0]


async def replays(thief: TestClient, cookie: str, csrf: str, ticket_id: int) -> list[int]:
    """The statuses of /api/me, a ticket list and a comment POST with the copied cookie and its CSRF token."""
    headers = {"Cookie": f"{COOKIE}={cookie}", "X-CSRF-Token": csrf}
    me = await thief.get("/api/me", headers=headers)
    listed = await thief.get(A + "/tickets", headers=headers)
    comment = await thief.post(f"{A}/tickets/{ticket_id}/comments", json={"text": "noch da?"}, headers=headers)
    return [me.status, listed.status, comment.status]


async def test_a_cookie_saved_before_logout_is_401_after_it(
    client: TestClient, thief: TestClient, seeded: World
) -> None:
    csrf = await login(client, "anna")
    cookie = saved_cookie(client)
    ticket = seeded.ids["ticket_plain"]
    assert await replays(thief, cookie, csrf, ticket) == [200, 200, 201]  # the copy works while logged in
    out = await client.post("/api/logout", json={}, headers={"X-CSRF-Token": csrf})
    assert out.status == 200
    assert await replays(thief, cookie, csrf, ticket) == [401, 401, 401]
    me = await thief.get("/api/me", headers={"Cookie": f"{COOKIE}={cookie}"})
    assert csrf not in await me.text()  # the CSRF token is not handed to whoever kept the cookie
    async with app_db(client).sessionmaker() as session:
        rows = list(await session.scalars(select(AccountSession)))
    assert len(rows) == 1 and rows[0].revoked_at is not None
    assert all(cookie not in (r.id) for r in rows)  # only a hash of the session id is stored
    again = await login(client, "anna")  # a new login works, with a new session
    assert (await client.get("/api/me", headers={"X-CSRF-Token": again})).status == 200


async def test_a_cookie_from_before_a_deactivation_stays_401_after_reactivation(
    client: TestClient, thief: TestClient, seeded: World
) -> None:
    csrf = await login(client, "anna")
    cookie = saved_cookie(client)
    olga = await browser(client)
    try:
        admin = {"X-CSRF-Token": await login(olga, "olga")}
        one = f"/api/admin/accounts/{seeded.ids['anna']}"
        assert (await olga.post(one + "/deactivate", json={}, headers=admin)).status == 200
        assert (await olga.patch(one, json={"active": True}, headers=admin)).status == 200
    finally:
        await olga.session.close()
    assert await replays(thief, cookie, csrf, seeded.ids["ticket_plain"]) == [401, 401, 401]
    assert (await client.get("/api/me")).status == 401  # the browser's own cookie too
    await login(client, "anna")
    assert (await client.get("/api/me")).status == 200


async def test_a_new_password_ends_every_session_of_the_account(
    client: TestClient, thief: TestClient, seeded: World
) -> None:
    csrf = await login(client, "anna")
    cookie = saved_cookie(client)
    second = await browser(client)  # anna on a second computer
    try:
        await login(second, "anna")
        await client.server.app[keys.ACCOUNTS].set_password(seeded.ids["anna"], "Ein-neues-Passwort-42")
        assert await replays(thief, cookie, csrf, seeded.ids["ticket_plain"]) == [401, 401, 401]
        assert (await second.get("/api/me")).status == 401
        await login(second, "anna", "Ein-neues-Passwort-42")
        assert (await second.get("/api/me")).status == 200
    finally:
        await second.session.close()


async def test_a_role_change_ends_every_session_of_the_account(
    client: TestClient, thief: TestClient, seeded: World
) -> None:
    csrf = await login(client, "maria")  # a manager
    cookie = saved_cookie(client)
    second = await browser(client)
    olga = await browser(client)
    try:
        await login(second, "maria")
        admin = {"X-CSRF-Token": await login(olga, "olga")}
        changed = await olga.patch(f"/api/admin/accounts/{seeded.ids['maria']}", json={"role": "agent"}, headers=admin)
        assert changed.status == 200
        assert (await olga.get("/api/me")).status == 200  # the admin's own session is untouched
        assert await replays(thief, cookie, csrf, seeded.ids["ticket_plain"]) == [401, 401, 401]
        assert (await second.get("/api/me")).status == 401
        await login(second, "maria")
        me = await second.get("/api/me")
        assert me.status == 200 and (await me.json())["account"]["role"] == "agent"
    finally:
        await second.session.close()
        await olga.session.close()


async def test_a_partner_token_stops_working_when_the_account_becomes_an_agent(
    client: TestClient, seeded: World
) -> None:
    partner = bearer(seeded.tokens["partner"])
    listed = await client.get(A + "/tickets", headers=partner)
    assert listed.status == 200
    assert [t["number"] for t in (await listed.json())["tickets"]] == [seeded.numbers["ticket_a"]]
    olga = await browser(client)
    try:
        admin = {"X-CSRF-Token": await login(olga, "olga")}
        one = f"/api/admin/accounts/{seeded.ids['acme']}"
        changed = await olga.patch(one, json={"role": "agent"}, headers=admin)
        assert changed.status == 200, await changed.text()
        widened = await client.get(A + "/tickets", headers=partner)
        assert widened.status == 401  # not the tenant's every ticket
        assert seeded.numbers["ticket_plain"] not in await widened.text()
        tokens = await olga.get(one + "/tokens", headers=admin)
        assert all(t["revoked_at"] for t in (await tokens.json())["tokens"])
    finally:
        await olga.session.close()


async def test_a_token_with_scopes_beyond_the_accounts_current_role_is_refused(
    client: TestClient, seeded: World
) -> None:
    """Even with no revocation (a role set in the database by hand): kpis:read is no partner's scope."""
    full = bearer(seeded.tokens["token"])  # svc's token with every scope, kpis:read among them
    assert (await client.get(A + "/tickets", headers=full)).status == 200
    async with app_db(client).sessionmaker() as session:
        await session.execute(
            update(Account).where(Account.id == seeded.ids["svc"]).values(role="partner", partner_group="partner:acme")
        )
        await session.commit()
        live = await session.scalar(select(ApiToken.revoked_at).where(ApiToken.id == seeded.ids["token_token"]))
    assert live is None
    assert (await client.get(A + "/tickets", headers=full)).status == 401


async def test_a_login_is_one_write_with_its_session_and_audit_entry(client: TestClient, seeded: World) -> None:
    """Issue 15 (7): a login storm on a single-writer database (SQLite) takes the writer once per login — the
    last-login stamp, the session row and the audit entry commit together, so none exists without the others."""
    engine = app_db(client).engine.sync_engine
    commits: list[int] = []

    def on_commit(conn: Any) -> None:
        commits.append(1)

    event.listen(engine, "commit", on_commit)
    try:
        csrf = await login(client, "anna")
    finally:
        event.remove(engine, "commit", on_commit)
    assert len(commits) == 1, commits
    assert (await client.get("/api/me", headers={"X-CSRF-Token": csrf})).status == 200
    async with app_db(client).sessionmaker() as session:
        stamped = (await session.execute(select(Account.last_login_at).where(Account.username == "anna"))).scalar()
        sessions = list(await session.scalars(select(AccountSession)))
        audited = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "login_ok")))
    assert stamped is not None and len(sessions) == 1 and len(audited) == 1
    assert audited[0].target == f"account:{sessions[0].account_id}"
