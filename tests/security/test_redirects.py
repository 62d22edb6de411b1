"""Issue 15 (items 3 and 6): every page sends an anonymous visitor to ``/login?next=<the page>``; every answer —
redirects and error pages included — carries the security headers; the Origin check compares the scheme too."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient

from tests.security.conftest import FakeAmi, World, login
from tests.support.webapp import PASSWORD, TENANT_A, web_settings
from uhd_telephony.app.web import init_app

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def assert_secured(headers: Any, what: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (what, name, headers.get(name))
    assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), what
    assert "camera=()" in headers.get("Permissions-Policy", ""), what


async def test_every_page_sends_an_anonymous_visitor_to_the_login_and_back(client: TestClient, world: World) -> None:
    pages = [
        "/console",
        "/kpis",
        "/tickets",
        "/tickets?status=open&q=m%C3%BCller",
        f"/tickets/{TENANT_A}/{world.ids['ticket_a']}",  # a ticket's page keeps its target
    ]
    for page in pages:
        response = await client.get(page, allow_redirects=False)
        assert response.status == 302, page
        assert response.headers["Location"] == "/login?" + urlencode({"next": page}), page  # encoded
        assert_secured(response.headers, page)


async def test_redirects_and_error_pages_carry_the_security_headers(client: TestClient) -> None:
    root = await client.get("/", allow_redirects=False)
    assert root.status == 302 and root.headers["Location"] == "/console"
    assert_secured(root.headers, "/")
    for path, status in (("/no-such-page", 404), ("/static/no-such-file.js", 404), ("/api/me", 401)):
        response = await client.get(path, allow_redirects=False)
        assert response.status == status, path
        assert_secured(response.headers, path)
    wrong_method = await client.delete("/login")
    assert wrong_method.status == 405
    assert_secured(wrong_method.headers, "DELETE /login")
    # logged in as a manager, the console is 403, the start page still a redirect: both secured
    await login(client, "maria")
    for path, status in (("/", 302), ("/console", 403)):
        response = await client.get(path, allow_redirects=False)
        assert response.status == status, path
        assert_secured(response.headers, path)


async def _login_from(client: TestClient, origin: str) -> int:
    body = {"username": "anna", "password": PASSWORD}
    response = await client.post("/api/login", json=body, headers={"Origin": origin})
    return response.status


async def test_the_origin_check_compares_scheme_host_and_port(client: TestClient) -> None:
    here = f"{client.host}:{client.port}"
    for foreign in (
        f"https://{here}",  # same host and port, another scheme
        f"http://{client.host}:{client.port + 1}",
        f"http://{client.host}",
        f"http://evil.example:{client.port}",
        f"ftp://{here}",
        f"http://user@{here}",
        f"http://{here}/path",
        here,
        "null",
    ):
        assert await _login_from(client, foreign) == 403, foreign
    assert await _login_from(client, f"http://{here}") == 200
    assert await _login_from(client, f"HTTP://{here.upper()}") == 200  # scheme and host are case-insensitive


async def test_behind_https_an_http_origin_is_refused(world: World, aiohttp_client: Any) -> None:
    # UHD_COOKIE_SECURE: TLS ends at the reverse proxy, which talks plain HTTP to the service
    client = await aiohttp_client(init_app(web_settings(world.url, cookie_secure=True), ami=lambda: FakeAmi()))
    here = f"{client.host}:{client.port}"
    assert await _login_from(client, f"http://{here}") == 403
    assert await _login_from(client, f"https://{here}") == 200
