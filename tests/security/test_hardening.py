"""Security headers (HSTS only behind HTTPS), the request size limit, the console's WebSocket by role, status links."""

from __future__ import annotations

import io
import json
import secrets
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.security.conftest import FakeAmi, World, app_db, bearer, browser, build_world, login, row_counts
from tests.support.webapp import TENANT_A, web_settings
from uhd_telephony.app.web import init_app

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


async def test_every_answer_carries_the_security_headers_and_no_hsts_over_plain_http(client: TestClient) -> None:
    for path in ("/login", "/api/me", "/healthz", "/status/x"):
        response = await client.get(path)
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "camera=()" in headers["Permissions-Policy"] and "microphone=()" in headers["Permissions-Policy"]
        assert "Strict-Transport-Security" not in headers


async def test_hsts_behind_https(world: World, aiohttp_client: Any) -> None:
    client = await aiohttp_client(init_app(web_settings(world.url, cookie_secure=True), ami=lambda: FakeAmi()))
    response = await client.get("/login")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_a_body_over_1_mib_is_refused_and_writes_nothing(client: TestClient) -> None:
    csrf = await login(client, "anna")
    before = await row_counts(app_db(client))
    big = {"channel": "web", "subject": "x", "description": "x" * (1024 * 1024 + 1), "requester": {"name": "y"}}
    response = await client.post(
        f"/api/tenants/{TENANT_A}/tickets",
        data=io.BytesIO(json.dumps(big).encode()),  # a stream: aiohttp warns about a big bytes body
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert response.status == 413
    assert await row_counts(app_db(client)) == before


async def test_the_screen_pop_socket_is_for_agents_only(client: TestClient, world: World) -> None:
    url = client.make_url("/ws/console")
    async with aiohttp.ClientSession() as anonymous:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await anonymous.ws_connect(url)
        assert refused.value.status == 401
    for headers in (bearer(world.tokens["partner"]), bearer(world.tokens["token"])):
        async with aiohttp.ClientSession(headers=headers) as machine:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await machine.ws_connect(url)
            assert refused.value.status == 403
    maria = await browser(client)
    try:
        await login(maria, "maria")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await maria.ws_connect("/ws/console")
        assert refused.value.status == 403
    finally:
        await maria.session.close()
    anna = await browser(client)
    try:
        await login(anna, "anna")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # cross-site WebSocket hijacking
            await anna.ws_connect("/ws/console", origin="https://evil.example")
        assert refused.value.status == 403
        async with anna.ws_connect("/ws/console") as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello["type"] == "hello" and hello["account"]["tenants"] == [TENANT_A]
    finally:
        await anna.session.close()


async def test_a_status_link_shows_its_ticket_and_any_other_or_malformed_token_is_404(
    client: TestClient, world: World
) -> None:
    page = await client.get(f"/status/{world.status_token}")
    assert page.status == 200 and world.numbers["ticket_plain"] in await page.text()
    for token in (secrets.token_urlsafe(32), world.status_token[:-1] + "x", "short", "x" * 200, "%00" * 30):
        other = await client.get(f"/status/{token}")
        assert other.status == 404, token
        assert world.numbers["ticket_plain"] not in await other.text()


async def test_a_nul_byte_or_a_lone_surrogate_in_a_path_or_query_is_a_clean_400(
    db_url: str, aiohttp_client: Any
) -> None:
    world = await build_world(db_url)
    client = await aiohttp_client(init_app(web_settings(world.url), ami=lambda: FakeAmi()))
    csrf = await login(client, "olga")  # an admin: every tenant's path reaches the queries
    for path in (
        f"/api/tenants/{TENANT_A}/directory/search?q=a%00b",
        f"/api/tenants/{TENANT_A}/tickets?requester_number=a%00b",
        f"/api/tenants/{TENANT_A}/tickets?group=a%00b",
        f"/api/tenants/{TENANT_A}%00/tickets",
        f"/api/tenants/{TENANT_A}/tickets/by-number/UHD%00",
        "/api/admin/audit?action=login_ok%00",
    ):
        response = await client.get(path, headers={"X-CSRF-Token": csrf})
        assert response.status in (400, 404), (path, response.status, await response.text())
    invalid_utf8 = await client.get(f"/api/tenants/{TENANT_A}/tickets?q=%ED%A0%80", headers={"X-CSRF-Token": csrf})
    assert invalid_utf8.status in (200, 400)
    umlaut = await client.get(f"/api/tenants/{TENANT_A}/tickets?q=M%C3%BCller", headers={"X-CSRF-Token": csrf})
    assert umlaut.status == 200


async def test_the_site_has_an_icon_where_browsers_look_for_it(client: TestClient) -> None:
    response = await client.get("/favicon.ico")
    assert response.status == 200 and response.content_type == "image/svg+xml"
    assert (await response.text()).startswith("<svg")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_request_line_over_8_kib_is_refused_by_the_http_layer(client: TestClient) -> None:
    """README "Hardening": aiohttp refuses it before the app (a plain-text 400, never a 5xx or a hang)."""
    response = await client.get("/api/tenants/klinikum-nord/tickets?q=" + "%C3%BC" * 1500)
    assert response.status == 400 and response.content_type == "text/plain"
    assert (await client.get("/healthz")).status == 200  # and the server goes on serving
